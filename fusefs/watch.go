package fusefs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// watchMask catches every way a ref changes: ostree and repofs write a
// temporary file and rename it over the ref (IN_MOVED_TO), deletion, new
// subdirectories, and the repository directory's mtime bump (IN_ATTRIB)
// that writers do at the end of every transaction.
const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_CLOSE_WRITE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_ONLYDIR

// settle is how long the watcher waits for a burst of events to end before
// it rescans (a ref update is a create, a rename and an attrib).
const settle = 5 * time.Millisecond

// Watch keeps refs/ current until ctx is done: it rescans on every inotify
// event under refs/ (and on the repository's mtime bump), and every
// Options.RefPoll in case an event was missed. It returns when ctx is done.
func (f *FS) Watch(ctx context.Context) error {
	if err := f.refs.refresh(); err != nil {
		f.log.Error("fusefs: scan refs", "err", err)
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return f.poll(ctx, err)
	}
	// Through os.File the read blocks in the runtime poller, so Close
	// wakes it.
	in := os.NewFile(uintptr(fd), "inotify")
	defer in.Close()
	events := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := in.Read(buf); err != nil {
				close(events)
				return
			}
			select {
			case events <- struct{}{}:
			default:
			}
		}
	}()
	go func() { <-ctx.Done(); in.Close() }()

	add := func() {
		// Watching a directory twice is harmless (same descriptor), so
		// every new subdirectory is picked up by walking again.
		unix.InotifyAddWatch(fd, f.r.Path(), unix.IN_ATTRIB|unix.IN_ONLYDIR)
		refs := filepath.Join(f.r.Path(), "refs")
		filepath.WalkDir(refs, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				unix.InotifyAddWatch(fd, p, watchMask)
			}
			return nil
		})
	}
	add()
	f.refs.refresh() // anything that changed before the watches existed
	tick := time.NewTicker(f.o.RefPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("watch refs: inotify stopped")
			}
			time.Sleep(settle)
			select { // coalesce what arrived meanwhile
			case <-events:
			default:
			}
			add()
		case <-tick.C:
		}
		if err := f.refs.refresh(); err != nil {
			f.log.Error("fusefs: scan refs", "err", err)
		}
	}
}

// poll is the fallback when inotify is unavailable.
func (f *FS) poll(ctx context.Context, why error) error {
	f.log.Warn("fusefs: inotify unavailable, polling refs", "err", why)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := f.refs.refresh(); err != nil {
				f.log.Error("fusefs: scan refs", "err", err)
			}
		}
	}
}
