package fusefs

import (
	"sync"
	"sync/atomic"

	"github.com/repofs/repofs/repo"
)

// warmWorkers bounds the objects read at once by warm. Reading objects is
// disk-bound when the page cache is cold, and the disk serves a queue of
// requests far faster than the same requests one after another.
const warmWorkers = 16

// warm reads, concurrently, what listing t is about to ask for: the
// metadata of its files (readdir needs their types) and the trees of its
// subdirectories (readdirplus looks each one up next). One at a time, as
// `ostree ls` does, a cold listing waits for the disk once per entry.
// Errors are left for the real reads, which report them with their path.
func (f *FS) warm(t *repo.DirTree) {
	var jobs []func()
	for _, e := range t.Files {
		if _, ok := f.stats.get(e.Content); !ok {
			jobs = append(jobs, func() { f.stat(e.Content) })
		}
	}
	metas := map[repo.Checksum]bool{} // siblings mostly share one
	for _, e := range t.Dirs {
		if _, ok := f.trees.get(e.Tree); !ok {
			jobs = append(jobs, func() { f.dirTree(e.Tree) })
		}
		if _, ok := f.metas.get(e.Meta); !ok && !metas[e.Meta] {
			metas[e.Meta] = true
			jobs = append(jobs, func() { f.dirMeta(e.Meta) })
		}
	}
	runAll(jobs, warmWorkers)
}

// runAll runs jobs on up to n goroutines and returns when all are done.
func runAll(jobs []func(), n int) {
	if len(jobs) < 2 {
		for _, j := range jobs {
			j()
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, len(jobs)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(jobs)); i = next.Add(1) - 1 {
				jobs[i]()
			}
		})
	}
	wg.Wait()
}
