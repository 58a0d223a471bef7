package fusefs

import (
	"slices"
	"sync"

	"github.com/repofs/repofs/repo"
)

// Descent: the objects of listings to come, read in the background.
// ls -lR, find, du, tar and cp -r list a directory, then descend into its
// subdirectories one after another. Cold, each of
// those listings waits for the disk to read its objects (warm spreads the
// reads of one directory over many goroutines, but a directory of five
// files is still a disk round trip), one directory at a time, while the
// disk could serve many at once. So a listing also reads the objects of
// the directories below it in the background, depth first in name order as
// those tools go, a bounded number ahead, and their listings find them
// cached. Only caches are filled: nothing the kernel sees changes, and an
// object that fails to read is left for the real read to report.
const (
	// descendWorkers is how many objects are read at once in the
	// background: enough to keep the disk's queue busy, fewer than a
	// listing's own warm takes, so that it still gets its share.
	descendWorkers = 16
	// maxDescended bounds the set of trees already expanded.
	maxDescended = 1 << 16
)

// descendAhead is how many objects a listing lets the descent read before
// it: well below the file-stat cache's size, so that what is read is not
// dropped before it is used. A variable for tests.
var descendAhead = 1 << 14

// descender reads, in the background, the objects below listed
// directories.
type descender struct {
	f *FS

	mu      sync.Mutex
	stack   []descendItem              // popped from the end: depth first
	budget  int                        // objects still to be read
	workers int                        // goroutines popping the stack
	done    map[repo.Checksum]struct{} // trees whose entries were pushed
	stopped bool
}

// descendItem is one object to read: a file's content object c, or a
// subdirectory's dirtree c and dirmeta meta.
type descendItem struct {
	c, meta repo.Checksum
	dir     bool
}

func newDescender(f *FS) *descender {
	return &descender{f: f, done: map[repo.Checksum]struct{}{}}
}

// listed is called when a directory with tree t was listed: its own
// objects are cached by then (warm), its subdirectories' are read in the
// background.
func (d *descender) listed(t *repo.DirTree) {
	if len(t.Dirs) == 0 {
		return
	}
	var items []descendItem
	// The first subdirectory on top: the reader descends there next.
	for _, e := range slices.Backward(t.Dirs) {
		items = append(items, descendItem{c: e.Tree, meta: e.Meta, dir: true})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	if len(d.stack) == 0 && d.workers == 0 {
		// A walk of its own: what an earlier one expanded may have left
		// the caches since; expanding it again costs little if not.
		clear(d.done)
	}
	d.budget = descendAhead
	d.pushLocked(items)
}

// stop ends the descent for good (the mount is going away); workers
// finish the object they are reading.
func (d *descender) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped, d.stack, d.budget = true, nil, 0
}

// pushLocked puts items on top of the stack and starts workers for them.
func (d *descender) pushLocked(items []descendItem) {
	if d.stopped {
		return
	}
	d.stack = append(d.stack, items...)
	// Beyond a budget's worth, the bottom of the stack is the reader's
	// distant future, or its past when it went elsewhere. Trimmed to one
	// budget when twice that, so that the copy is rare.
	if len(d.stack) > 2*descendAhead {
		d.stack = slices.Delete(d.stack, 0, len(d.stack)-descendAhead)
	}
	for ; d.workers < descendWorkers && d.workers < len(d.stack) && d.budget > 0; d.workers++ {
		go d.work()
	}
}

// work reads objects off the stack until it is empty or the budget spent.
func (d *descender) work() {
	for {
		d.mu.Lock()
		if len(d.stack) == 0 || d.budget <= 0 {
			d.workers--
			d.mu.Unlock()
			return
		}
		it := d.stack[len(d.stack)-1]
		d.stack = d.stack[:len(d.stack)-1]
		d.budget--
		d.mu.Unlock()
		if !it.dir {
			d.f.stat(it.c)
			continue
		}
		d.expand(it.c, it.meta)
	}
}

// expand reads a subdirectory's dirtree and dirmeta and pushes its entries:
// its files on top, then its subdirectories, each in name order.
func (d *descender) expand(tree, meta repo.Checksum) {
	d.mu.Lock()
	_, seen := d.done[tree]
	if !seen {
		if len(d.done) >= maxDescended {
			clear(d.done)
		}
		d.done[tree] = struct{}{}
	}
	d.mu.Unlock()
	if seen {
		return
	}
	d.f.dirMeta(meta)
	t, err := d.f.dirTree(tree)
	if err != nil {
		return
	}
	var items []descendItem
	for _, e := range slices.Backward(t.Dirs) {
		items = append(items, descendItem{c: e.Tree, meta: e.Meta, dir: true})
	}
	for _, e := range slices.Backward(t.Files) {
		if _, ok := d.f.stats.get(e.Content); !ok {
			items = append(items, descendItem{c: e.Content})
		}
	}
	d.mu.Lock()
	d.pushLocked(items)
	d.mu.Unlock()
}
