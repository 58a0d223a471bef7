package repo

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The walk of a directory checkout. A fixed pool of workers
// (checkoutWorkers) takes jobs from one stack: a directory to make and
// open, or a run of up to walkChunk of a directory's files to write. A
// directory's job pushes its files' runs and its subdirectories, first
// ones on top, so that the pool goes depth first, in about ostree's
// order, and keeps open only the directories it is in. Where each file
// that needed reading had a goroutine of its own, the scheduler woke and
// parked goroutines thousands of times per checkout (futex calls,
// reschedule interrupts) for work that a worker does in turn. With
// whiteouts, --require-hardlinks or a union, a directory's job writes
// its files itself, in order, before it pushes its subdirectories (see
// walkDir).
// Nothing waits for a directory to be done: each holds a count of what is
// still to come in it (its walk, its runs of files, its subdirectories),
// and whoever drops the count to zero sets the directory's metadata,
// closes it and drops its parent's count.
//
// Where ostree stops at the first failure in its order (a directory's
// files by name, then its subdirectories by name, then the directory's
// own metadata), this reports that same failure: each item has a walkKey,
// its position in that order, an item after a failure found so far is
// not started, one before it still is, and the failure with the least key
// wins.

// walkKey is an item's position in ostree's order: the indexes, from the
// root down, of the directories it is in and then of the item in its
// directory, where a directory's items are its files, then its
// subdirectories, then its metadata. A directory's own key is the prefix
// of its items', and sorts before them.
type walkKey []int32

// walkLess reports whether the key of prefix followed by last (none if
// last < 0) comes before k.
func walkLess(prefix walkKey, last int32, k walkKey) bool {
	n := len(prefix)
	if last >= 0 {
		n++
	}
	for i := range min(n, len(k)) {
		v := last
		if i < len(prefix) {
			v = prefix[i]
		}
		if v != k[i] {
			return v < k[i]
		}
	}
	return n < len(k)
}

// childKey is the key of item i of the directory of key k.
func childKey(k walkKey, i int) walkKey {
	return append(slices.Clip(k), int32(i))
}

// fail records err as the failure of the item of key k, and stops the
// items after it.
func (c *checkout) fail(k walkKey, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ferr == nil || walkLess(k, -1, c.fkey) {
		c.ferr, c.fkey = err, k
	}
	c.failed.Store(true)
}

// stopped reports whether the item of key prefix followed by last (none if
// last < 0) comes after a failure, and is not to be started.
func (c *checkout) stopped(prefix walkKey, last int32) bool {
	if !c.failed.Load() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !walkLess(prefix, last, c.fkey)
}

// dirState is a directory of the checkout, open as fd until everything
// in it is done.
type dirState struct {
	c        *checkout
	parent   *dirState // nil: the checked-out root
	parentFd int
	name     string
	n        Node
	meta     *DirMeta
	fd       int
	didExist bool
	key      walkKey
	files    []Node
	dirs     []Node
	items    int          // files and subdirectories: the metadata's index
	refs     atomic.Int32 // the walk, runs of files, subdirectories
}

// walkChunk is the most files of a directory one job writes: a large
// directory's files are written by the whole pool, a small one's by one
// worker without handing over.
const walkChunk = 32

// walkJob is a worker's job: with d, its files lo to hi; else the
// directory n, to make as name in parentFd, which is parent's (nil for
// the root), whose count the pusher took for it.
type walkJob struct {
	d        *dirState
	lo, hi   int
	parent   *dirState
	parentFd int
	name     string
	n        Node
	key      walkKey
}

// walkPool is the stack of jobs of a checkout's workers.
type walkPool struct {
	mu      sync.Mutex
	cond    sync.Cond
	stack   []walkJob
	pending int // pushed and not done: none left ends the workers
	idle    int // workers waiting for a job
}

// walk checks out the directory n as name in parentFd with workers
// workers, the caller's goroutine one of them, and returns once done.
func (c *checkout) walk(parentFd int, name string, n Node, workers int) {
	p := &c.pool
	p.cond.L = &p.mu
	c.push(walkJob{parentFd: parentFd, name: name, n: n})
	var wg sync.WaitGroup
	for range max(workers, 1) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.work()
		}()
	}
	c.work()
	wg.Wait()
}

// push adds jobs to the stack, the first on top.
func (c *checkout) push(jobs ...walkJob) {
	p := &c.pool
	p.mu.Lock()
	for i := len(jobs) - 1; i >= 0; i-- {
		p.stack = append(p.stack, jobs[i])
	}
	p.pending += len(jobs)
	wake := min(p.idle, len(jobs))
	p.mu.Unlock()
	for range wake {
		p.cond.Signal()
	}
}

// work runs jobs until there are none, nor any running that could push
// more.
func (c *checkout) work() {
	p := &c.pool
	p.mu.Lock()
	for {
		for len(p.stack) == 0 && p.pending > 0 {
			p.idle++
			p.cond.Wait()
			p.idle--
		}
		if p.pending == 0 {
			p.mu.Unlock()
			p.cond.Broadcast()
			return
		}
		j := p.stack[len(p.stack)-1]
		p.stack[len(p.stack)-1] = walkJob{}
		p.stack = p.stack[:len(p.stack)-1]
		p.mu.Unlock()
		if j.d != nil {
			c.walkFiles(j.d, j.lo, j.hi)
		} else {
			c.walkDir(j.parent, j.parentFd, j.name, j.n, j.key)
		}
		p.mu.Lock()
		p.pending--
	}
}

// walkDir checks out directory n as name in parentFd, which is parent's
// (nil for the root), whose count the caller took for it: it makes and
// opens it, and pushes the jobs of what is in it.
func (c *checkout) walkDir(parent *dirState, parentFd int, name string, n Node, key walkKey) {
	d, err := c.openDir(parentFd, name, n, key)
	if d == nil || err != nil {
		if err != nil {
			c.fail(key, err)
		}
		if parent != nil {
			parent.release()
		}
		return
	}
	d.parent = parent
	var jobs []walkJob
	if c.o.Whiteouts || c.o.RequireHardlinks || c.o.Overwrite != OverwriteNone {
		// The directory's files first, in order, by this job: a whiteout
		// removes a file written before it, and a failure among them
		// (a conflict, a file that cannot be linked) is found, as by
		// ostree, before any subdirectory is made.
		d.refs.Add(1)
		c.walkFiles(d, 0, len(d.files))
	} else {
		jobs = make([]walkJob, 0, (len(d.files)+walkChunk-1)/walkChunk+len(d.dirs))
		for lo := 0; lo < len(d.files); lo += walkChunk {
			jobs = append(jobs, walkJob{d: d, lo: lo, hi: min(lo+walkChunk, len(d.files))})
		}
	}
	for j, sd := range d.dirs {
		jobs = append(jobs, walkJob{parent: d, parentFd: d.fd, name: sd.Name(), n: sd, key: childKey(key, len(d.files)+j)})
	}
	d.refs.Add(int32(len(jobs)))
	c.push(jobs...)
	d.release()
}

// walkFiles checks out d's files lo to hi, in order, stopping at a
// failure, and drops the count of d the job held.
func (c *checkout) walkFiles(d *dirState, lo, hi int) {
	for i := lo; i < hi; i++ {
		if c.stopped(d.key, int32(i)) {
			break
		}
		if err := c.walkFile(d, i, d.files[i]); err != nil {
			c.fail(childKey(d.key, i), err)
			break
		}
	}
	d.release()
}

// openDir makes directory n as name in parentFd and opens it: nil, nil
// if it is skipped.
func (c *checkout) openDir(parentFd int, name string, n Node, key walkKey) (*dirState, error) {
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	if c.stopped(key, -1) || c.skipped(n) {
		return nil, nil
	}
	meta, err := c.r.ReadDirMeta(n.Meta)
	if err != nil {
		return nil, err
	}
	t, err := c.r.ReadDirTree(n.Tree)
	if err != nil {
		return nil, err
	}
	files, dirs := Children(n, t)
	if c.o.Whiteouts && slices.ContainsFunc(files, func(f Node) bool { return f.Name() == opaqueWhiteout }) {
		if err := removeAt(parentFd, name); err != nil {
			return nil, err
		}
	}
	d := &dirState{c: c, parentFd: parentFd, name: name, n: n, meta: meta, key: key, files: files, dirs: dirs, items: len(files) + len(dirs)}
	if err := unix.Mkdirat(parentFd, name, 0o700); err != nil {
		if !errors.Is(err, unix.EEXIST) || c.o.Overwrite == OverwriteNone {
			return nil, &CheckoutMsgError{Msg: "mkdirat: " + strerror(err), Err: fmt.Errorf("mkdirat %s: %w", n.Path, err)}
		}
		d.didExist = true
	}
	d.fd, err = unix.Openat(parentFd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", n.Path, err)
	}
	if c.o.RequireHardlinks {
		var rs, ds unix.Stat_t
		err := unix.Stat(c.r.path, &rs)
		if err != nil {
			err = fmt.Errorf("stat %s: %w", c.r.path, err)
		} else if err = unix.Fstat(d.fd, &ds); err != nil {
			err = fmt.Errorf("stat %s: %w", n.Path, err)
		} else if rs.Dev != ds.Dev {
			err = &CheckoutMsgError{Msg: fmt.Sprintf("Unable to do hardlink checkout across devices (src=%d destination=%d)", rs.Dev, ds.Dev)}
		}
		if err != nil {
			unix.Close(d.fd)
			return nil, err
		}
	}
	d.refs.Store(1)
	return d, nil
}

// walkFile checks out file i of d, f: linked at once where that needs no
// reading, else read and written. An error returned is f's.
func (c *checkout) walkFile(d *dirState, i int, f Node) error {
	if c.o.Whiteouts && strings.HasPrefix(f.Name(), whiteoutPrefix) {
		done, err := c.whiteout(d.fd, f)
		if done || err != nil {
			return err
		}
	}
	p, skip, err := c.prepare(d.fd, f.Name(), f)
	if skip || err != nil {
		return err
	}
	if ok, err := c.linkVerified(d.fd, f.Name(), f, p); ok || err != nil {
		return err
	}
	return c.fileUnrecorded(d.fd, f.Name(), f, p)
}

// release drops one of d's count; the last sets its metadata, unless a
// failure before it stopped the checkout, and closes it.
func (d *dirState) release() {
	if d.refs.Add(-1) > 0 {
		return
	}
	c := d.c
	if !c.stopped(d.key, int32(d.items)) {
		if err := d.finish(); err != nil {
			c.fail(childKey(d.key, d.items), err)
		}
	}
	unix.Close(d.fd)
	if d.parent != nil {
		d.parent.release()
	}
}

// finish sets d's metadata once everything in it is written: ownership
// and mode last, so that a read-only directory can be filled.
func (d *dirState) finish() error {
	if d.didExist {
		return nil // not ours: its metadata stays
	}
	c, meta, n := d.c, d.meta, d.n
	// As ostree: a directory keeps its setgid and sticky bits even in a
	// user checkout; a bare-user-only repository's lose them and world
	// write.
	mode := meta.Mode & 0o7777
	if c.r.mode == ModeBareUserOnly || c.o.BareUserOnlyDirs {
		mode &= 0o775
	}
	if !c.o.User {
		if err := unix.Fchown(d.fd, int(meta.UID), int(meta.GID)); err != nil {
			return fmt.Errorf("chown %s: %w", n.Path, err)
		}
		for _, x := range meta.Xattrs {
			if err := unix.Fsetxattr(d.fd, x.Name, x.Value, 0); err != nil {
				return fmt.Errorf("setxattr %s on %s: %w", x.Name, n.Path, err)
			}
		}
	}
	if err := unix.Fchmod(d.fd, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", n.Path, err)
	}
	if !c.o.ForceCopy {
		// As ostree: every directory it made gets mtime 0, the same in
		// every checkout.
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {}}
		if err := unix.UtimesNanoAt(d.parentFd, d.name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set mtime of %s: %w", n.Path, err)
		}
	}
	return nil
}
