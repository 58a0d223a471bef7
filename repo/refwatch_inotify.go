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
// and every directory under refs/ the watcher asks for, and remembers the
// paths the events name.
type inotify struct {
	repo string
	fd   int
	in   *os.File
	c    chan struct{}
	done sync.WaitGroup

	mu      sync.Mutex
	repoWd  int32
	paths   map[int32]string // watch descriptor → directory under refs/ ("" is refs/)
	wds     map[string]int32
	pending map[string]struct{} // paths under refs/ named by events since take
	lost    bool                // the kernel's queue overflowed since take
}

func newInotify(repoPath string) (notifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	// Through os.File the read blocks in the runtime poller, so close
	// wakes it.
	n := &inotify{repo: repoPath, fd: fd, in: os.NewFile(uintptr(fd), "inotify"), c: make(chan struct{}, 1),
		paths: map[int32]string{}, wds: map[string]int32{}, pending: map[string]struct{}{}}
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

// read records the paths that every batch of events names, then wakes the
// watcher.
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

// record notes what a buffer of events names.
func (n *inotify) record(b []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !eachInotifyEvent(b, func(wd int32, mask uint32, name string) {
		switch {
		case mask&unix.IN_Q_OVERFLOW != 0:
			n.lost = true
		case mask&unix.IN_IGNORED != 0:
			// The kernel dropped the watch: its directory is gone, and
			// its parent's event says so.
			if p, ok := n.paths[wd]; ok {
				delete(n.paths, wd)
				if n.wds[p] == wd {
					delete(n.wds, p)
				}
			}
		case wd == n.repoWd || name == "":
		default:
			if dir, ok := n.paths[wd]; ok {
				n.pending[join(dir, name)] = struct{}{}
			}
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

func (n *inotify) take() (paths []string, lost bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for p := range n.pending {
		paths = append(paths, p)
	}
	clear(n.pending)
	lost, n.lost = n.lost, false
	return paths, lost
}

// watch watches the directory dir under refs/. Under mu, so that an event
// of the new watch finds its path.
func (n *inotify) watch(dir string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	wd, err := unix.InotifyAddWatch(n.fd, filepath.Join(n.repo, "refs", filepath.FromSlash(dir)), refsMask)
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		return nil // gone meanwhile: its parent's event says so
	case errors.Is(err, unix.ENOSPC):
		return fmt.Errorf("inotify watch refs/%s: %w (raise fs.inotify.max_user_watches: every directory under refs/ takes one)", dir, err)
	case err != nil:
		return fmt.Errorf("inotify watch refs/%s: %w", dir, err)
	}
	if old, ok := n.paths[int32(wd)]; ok && n.wds[old] == int32(wd) {
		delete(n.wds, old) // the same directory, moved
	}
	n.paths[int32(wd)] = dir
	n.wds[dir] = int32(wd)
	return nil
}

// forget stops watching dir, which is gone from under refs/ (a directory
// moved elsewhere keeps its watch otherwise).
func (n *inotify) forget(dir string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if wd, ok := n.wds[dir]; ok {
		unix.InotifyRmWatch(n.fd, uint32(wd))
		delete(n.wds, dir)
		delete(n.paths, wd)
	}
}

func (n *inotify) watched(dir string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.wds[dir]
	return ok
}

func (n *inotify) close() {
	n.in.Close()
	n.done.Wait()
}
