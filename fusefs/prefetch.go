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

// Read-ahead of archive files. A reader that goes through a directory's
// files one after another (cp -r, tar, grep -r) has each inflated on its
// own time, on one core, while the other idles. When it starts reading a
// file, the next files of the directory are inflated in the background
// into the content cache, where its next READs find them.
const (
	readAheadBytes = 4 << 20 // inflated bytes handed out per file read
	readAheadFiles = 32
	// readAheadLarge is how far ahead of its reader a large file is
	// inflated, in steps of readAheadStep so that the reader's own READs
	// are never kept waiting for more than a step.
	readAheadLarge = 16 << 20
	readAheadStep  = 256 << 10
)

// readAhead hands the files after idx in d, up to readAheadBytes, to a
// background inflater; each file of d at most once. Best effort: with
// every inflater busy, the reader inflates for itself.
func (f *FS) readAhead(d *dirNode, idx int) {
	if d == nil {
		return
	}
	select {
	case f.inflaters <- struct{}{}:
	default:
		return
	}
	for {
		cur := d.ahead.Load()
		jobs, to := f.readAheadJobs(d, max(int64(idx+1), cur))
		if to <= cur {
			<-f.inflaters
			return
		}
		if !d.ahead.CompareAndSwap(cur, to) {
			continue
		}
		// Past files read-ahead does not take too: never scanned again.
		if len(jobs) == 0 {
			<-f.inflaters
			return
		}
		go func() {
			defer func() { <-f.inflaters }()
			// The disk reads all of them at once, while the first
			// ones inflate.
			for _, j := range jobs {
				f.r.PrefetchFile(j.c)
			}
			for _, j := range jobs {
				e, err := f.content.acquire(j.c, j.size)
				if err != nil {
					continue // the reader's own READ reports it
				}
				e.inflateTo(j.size)
				f.content.release(e)
			}
		}()
		return
	}
}

type readAheadJob struct {
	c    repo.Checksum
	size int64
}

// readAheadJobs lists the files of d from index from on that read-ahead
// takes (small regular files whose metadata is cached), and the index
// after the last one looked at.
func (f *FS) readAheadJobs(d *dirNode, from int64) ([]readAheadJob, int64) {
	var jobs []readAheadJob
	bytes, to := int64(0), from
	for ; to < int64(len(d.tree.Files)) && len(jobs) < readAheadFiles && bytes < readAheadBytes; to++ {
		c := d.tree.Files[to].Content
		fi, ok := f.stats.get(c)
		if !ok || fi.IsSymlink() || fi.Size == 0 || fi.Size > smallFile {
			continue
		}
		jobs = append(jobs, readAheadJob{c, int64(fi.Size)})
		bytes += int64(fi.Size)
	}
	return jobs, to
}

// readAheadInFile inflates a large file (kept in a temporary file) ahead
// of a reader now at from, on another core, so that its next READs find
// their bytes inflated.
func (f *FS) readAheadInFile(e *inflated, from int64) {
	target := min(e.size, from+readAheadLarge)
	if e.has(min(e.size, from+readAheadLarge/2)) || !e.ahead.CompareAndSwap(false, true) {
		return // inflated far enough ahead, or being
	}
	select {
	case f.inflaters <- struct{}{}:
	default:
		e.ahead.Store(false)
		return
	}
	f.content.hold(e) // the caller's reference ends with its READ
	go func() {
		defer func() {
			f.content.release(e)
			e.ahead.Store(false)
			<-f.inflaters
		}()
		if from <= readAheadLarge {
			// Near its start (whatever the size of the first READs):
			// the disk may read the whole object ahead.
			f.r.PrefetchFile(e.c)
		}
		for t := max(from, e.ready.Load()); t < target; {
			t = min(t+readAheadStep, target)
			if e.inflateTo(t) != nil {
				return
			}
		}
	}()
}
