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

// The walk of a directory checkout. Files that need reading are written
// by goroutines (at most cap(c.sem) at once) while the walk goes on; up
// to cap(c.walkers) subdirectories are walked by goroutines of their own,
// the others by the walk that found them. Nothing waits for a directory
// to be done: each holds a count of what is still to come in it (its
// walk, its files being written, its subdirectories), and whoever drops
// the count to zero sets the directory's metadata, closes it and drops
// its parent's count. A walk that waited for each directory's files
// before going on, as ostree's does, left one core idle at the end of
// every directory.
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
	refs     atomic.Int32 // the walk, files being written, subdirectories
	writing  sync.WaitGroup
}

// walkDir checks out directory n as name in parentFd, which is parent's
// (nil for the root), whose count the caller took for it.
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
	files, dirs := d.files, d.dirs
	for i, f := range files {
		if c.stopped(key, int32(i)) {
			break
		}
		if err := c.walkFile(d, i, f, files[:i]); err != nil {
			c.fail(childKey(key, i), err)
			break
		}
	}
	for j, sd := range dirs {
		i := len(files) + j
		if c.stopped(key, int32(i)) {
			break
		}
		d.refs.Add(1)
		select {
		case c.walkers <- struct{}{}:
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				defer func() { <-c.walkers }()
				c.walkDir(d, d.fd, sd.Name(), sd, childKey(key, i))
			}()
		default:
			c.walkDir(d, d.fd, sd.Name(), sd, childKey(key, i))
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

// walkFile checks out file i of d, f, where before are the files before
// it: linked at once when that needs no reading, else handed to a
// goroutine. An error returned is f's.
func (c *checkout) walkFile(d *dirState, i int, f Node, before []Node) error {
	if c.o.Whiteouts && strings.HasPrefix(f.Name(), whiteoutPrefix) {
		done, err := c.whiteout(d.fd, f, before, d.writing.Wait)
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
	c.sem <- struct{}{}
	d.refs.Add(1)
	d.writing.Add(1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := c.fileUnrecorded(d.fd, f.Name(), f, p); err != nil {
			c.fail(childKey(d.key, i), err)
		}
		<-c.sem
		d.writing.Done()
		d.release()
	}()
	return nil
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
