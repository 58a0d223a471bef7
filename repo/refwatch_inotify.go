package repo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// refsMask catches every way a ref changes: ostree and repofs write a
// temporary file and rename it over the ref (IN_MOVED_TO), other tools
// write it in place (IN_CLOSE_WRITE), refs and directories are created,
// deleted and moved.
const refsMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_CLOSE_WRITE | unix.IN_ONLYDIR

// inotify watches the repository directory for its mtime bump (IN_ATTRIB)
// and every directory under refs/ the watcher asks for, and keeps the
// events of the latter as they come: which directory each names is the
// watcher's to know (refTree.byWd), so that a mirror's hundreds of
// thousands of directories cost nothing here.
type inotify struct {
	repo string
	refs string // the repository's refs/, with a final slash
	fd   int
	in   *os.File
	c    chan struct{}
	done sync.WaitGroup

	mu      sync.Mutex
	repoWd  int32
	pending []notifyEvent // since take
	lost    bool          // the kernel's queue overflowed since take
}

// notifyEvent is a change of the entry name in the directory watched as
// wd, or (ignored) the end of that watch: the directory is gone.
type notifyEvent struct {
	wd      int32
	name    string
	ignored bool
}

func newInotify(repoPath string) (notifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	// Through os.File the read blocks in the runtime poller, so close
	// wakes it.
	n := &inotify{repo: repoPath, refs: filepath.Join(repoPath, "refs") + "/", fd: fd, in: os.NewFile(uintptr(fd), "inotify"), c: make(chan struct{}, 1)}
	wd, err := unix.InotifyAddWatch(fd, repoPath, unix.IN_ATTRIB|unix.IN_ONLYDIR)
	if err != nil {
		n.in.Close()
		return nil, fmt.Errorf("inotify watch %s: %w", repoPath, err)
	}
	n.repoWd = int32(wd)
	n.done.Add(1)
	go n.read()
	return n, nil
}

// read records the events of every batch, then wakes the watcher.
func (n *inotify) read() {
	defer n.done.Done()
	defer close(n.c)
	buf := make([]byte, 256<<10)
	for {
		m, err := n.in.Read(buf)
		if err != nil {
			return
		}
		n.record(buf[:m])
		select {
		case n.c <- struct{}{}:
		default:
		}
	}
}

// record notes the events of a buffer.
func (n *inotify) record(b []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !eachInotifyEvent(b, func(wd int32, mask uint32, name string) {
		switch {
		case mask&unix.IN_Q_OVERFLOW != 0:
			n.lost = true
		case mask&unix.IN_IGNORED != 0:
			if wd != n.repoWd {
				n.pending = append(n.pending, notifyEvent{wd: wd, ignored: true})
			}
		case wd == n.repoWd || name == "":
		default:
			n.pending = append(n.pending, notifyEvent{wd: wd, name: name})
		}
	}) {
		n.lost = true
	}
}

// eachInotifyEvent calls fn for each event in b, as read(2) of an inotify
// descriptor returns them; false if b ends inside an event.
func eachInotifyEvent(b []byte, fn func(wd int32, mask uint32, name string)) bool {
	for len(b) >= unix.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(b[0:]))
		mask := binary.NativeEndian.Uint32(b[4:])
		l := int(binary.NativeEndian.Uint32(b[12:]))
		if unix.SizeofInotifyEvent+l > len(b) {
			return false
		}
		fn(wd, mask, cString(b[unix.SizeofInotifyEvent:unix.SizeofInotifyEvent+l]))
		b = b[unix.SizeofInotifyEvent+l:]
	}
	return true
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func (n *inotify) wake() <-chan struct{} { return n.c }

func (n *inotify) take() (evs []notifyEvent, lost bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	evs, n.pending = n.pending, nil
	lost, n.lost = n.lost, false
	return evs, lost
}

// watch watches the directory dir under refs/, and returns its watch
// descriptor, or -1 if it is gone.
func (n *inotify) watch(dir string) (int32, error) {
	// dir is clean, and a mirror's loads watch a hundred thousand.
	wd, err := unix.InotifyAddWatch(n.fd, n.refs+dir, refsMask)
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		return -1, nil // gone meanwhile: its parent's event says so
	case errors.Is(err, unix.ENOSPC):
		return -1, fmt.Errorf("inotify watch refs/%s: %w (raise fs.inotify.max_user_watches: every directory under refs/ takes one)", dir, err)
	case err != nil:
		return -1, fmt.Errorf("inotify watch refs/%s: %w", dir, err)
	}
	return int32(wd), nil
}

// forget stops the watch wd, of a directory gone from under refs/ (a
// directory moved elsewhere keeps its watch otherwise).
func (n *inotify) forget(wd int32) { unix.InotifyRmWatch(n.fd, uint32(wd)) }

func (n *inotify) close() {
	n.in.Close()
	n.done.Wait()
}
