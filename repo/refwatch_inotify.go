package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// refsMask catches every way a ref changes: ostree and repofs write a
// temporary file and rename it over the ref (IN_MOVED_TO), other tools
// write it in place (IN_CLOSE_WRITE), refs are deleted, and directories
// appear (IN_CREATE) and go (IN_DELETE_SELF).
const refsMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_CLOSE_WRITE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_ONLYDIR

// inotify watches the repository directory for its mtime bump (IN_ATTRIB)
// and every directory under refs/.
type inotify struct {
	repo string
	fd   int
	in   *os.File
	c    chan struct{}
	done sync.WaitGroup
}

func newInotify(repoPath string) (notifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	// Through os.File the read blocks in the runtime poller, so close
	// wakes it.
	n := &inotify{repo: repoPath, fd: fd, in: os.NewFile(uintptr(fd), "inotify"), c: make(chan struct{}, 1)}
	if _, err := unix.InotifyAddWatch(fd, repoPath, unix.IN_ATTRIB|unix.IN_ONLYDIR); err != nil {
		n.in.Close()
		return nil, fmt.Errorf("inotify watch %s: %w", repoPath, err)
	}
	if err := n.rewatch(); err != nil {
		n.in.Close()
		return nil, err
	}
	n.done.Add(1)
	go n.read()
	return n, nil
}

// read turns every batch of events into one wake-up; the watcher reads
// refs/ again, so what the events say does not matter, and an overflow of
// the kernel's queue (IN_Q_OVERFLOW) is a wake-up like any other.
func (n *inotify) read() {
	defer n.done.Done()
	defer close(n.c)
	buf := make([]byte, 64<<10)
	for {
		if _, err := n.in.Read(buf); err != nil {
			return
		}
		select {
		case n.c <- struct{}{}:
		default:
		}
	}
}

func (n *inotify) wake() <-chan struct{} { return n.c }

// rewatch walks refs/ and watches every directory: watching one twice is
// harmless (same descriptor), and a directory created before its watch
// existed is read by the look that follows.
func (n *inotify) rewatch() error {
	var first error
	filepath.WalkDir(filepath.Join(n.repo, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil // gone meanwhile: its parent's event says so
		}
		_, err = unix.InotifyAddWatch(n.fd, p, refsMask)
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) && first == nil {
			first = fmt.Errorf("inotify watch %s: %w", p, err)
		}
		return nil
	})
	return first
}

func (n *inotify) close() {
	n.in.Close()
	n.done.Wait()
}
