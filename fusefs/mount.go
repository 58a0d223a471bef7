package fusefs

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo"
)

// MountOptions are the mount's own settings.
type MountOptions struct {
	Options
	// AllowOther lets other users see the mount (needs user_allow_other
	// in /etc/fuse.conf when not root).
	AllowOther bool
	// Debug logs every FUSE request (go-fuse's request log) to stderr.
	Debug bool
	// NoXattrs hides the objects' extended attributes: getxattr and
	// listxattr fail with EOPNOTSUPP without a round trip to the daemon,
	// which makes ls -l several times faster.
	NoXattrs bool
	// NoVerify serves the objects of a bare repository without checking
	// them against their checksums first: for trusted disks, it saves the
	// one pass over each object that the first read of its file makes.
	// Archive files are checked anyway, as they are inflated.
	NoVerify bool
	// NonEmpty mounts over a directory that is not empty, hiding what is
	// in it while mounted; without it such a mountpoint is refused.
	NonEmpty bool
}

// ErrBusy reports an unmount refused because the mount is in use.
var ErrBusy = errors.New("mount is busy")

// Mount is a mounted repository.
type Mount struct {
	FS         *FS
	Mountpoint string
	server     *fuse.Server
	// loop serves the mount, or nil if go-fuse's loop does (server).
	loop *serveLoop
	// direct: mounted with mount(2), not fusermount3.
	direct    bool
	counting  *countingFS
	cancel    context.CancelFunc
	watchDone chan struct{}
}

// MountRepo mounts r read-only at mountpoint and starts watching its refs.
// As root it mounts directly with mount(2); otherwise through fusermount3.
func MountRepo(ctx context.Context, r *repo.Repo, mountpoint string, o MountOptions) (*Mount, error) {
	if err := checkMountpoint(mountpoint, o.NonEmpty); err != nil {
		return nil, err
	}
	f := New(r, o.Options)
	if o.NoVerify {
		f.trustDisk()
	}
	// The watch's first look, which reads refs/ alone (the rest is read
	// as the kernel asks for it), is done before the mount serves.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		f.watch(wctx)
	}()
	mounted := false
	defer func() {
		if !mounted {
			cancel()
			<-watchDone
		}
	}()
	if err := f.refs.waitLoaded(ctx); err != nil {
		return nil, fmt.Errorf("mount %s: %w", r.Path(), err)
	}
	mutableTimeout := mutable
	fo := &fs.Options{
		EntryTimeout:    &mutableTimeout,
		AttrTimeout:     &mutableTimeout,
		NullPermissions: true, // show a mode of 0000 as it is
		MountOptions: fuse.MountOptions{
			FsName:       r.Path(),
			Name:         "repofs",
			AllowOther:   o.AllowOther,
			Debug:        o.Debug,
			MaxReadAhead: 1 << 20,
			// Also the largest READ (max_read, max_pages): a large file
			// takes 8 times fewer round trips than at go-fuse's 128 KiB.
			MaxWrite: 1 << 20,
			// Only when others may use the mount do ACLs guard anything:
			// alone, its user can read every object in the repository
			// anyway. The kernel then enforces ACLs and caches them, but
			// fetches each one once, a round trip per file for ls -l;
			// without, ls asks once and stops (see unsupported).
			EnableAcl: o.AllowOther,
			// Every symlink's target is fixed for its inode: in commits/
			// by content, in refs/ by the ref's value (refNodes),
			// so a moved ref is a new inode and nothing cached goes stale.
			EnableSymlinkCaching: true,
		},
	}
	if o.Debug {
		fo.Logger = log.New(os.Stderr, "fuse: ", log.Lmicroseconds)
	}
	if os.Geteuid() == 0 {
		// mount(2) takes ro/nosuid/nodev as flags, not option strings.
		fo.DirectMountStrict = true
		fo.DirectMountFlags = syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV
		fo.Options = []string{"default_permissions"}
	} else {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			return nil, fmt.Errorf("mount %s: not root and no fusermount3 in $PATH; install fuse3 or run as root", mountpoint)
		}
		fo.Options = []string{"ro", "nosuid", "nodev", "default_permissions"}
	}
	// What fs.Mount does, with adapters between the kernel and the nodes:
	// handleless directories, statfs of any directory, refs/ served
	// apart, hidden xattrs if asked (else no absent labels or ACLs), the
	// request counter.
	var raw fuse.RawFileSystem = &handlelessDirs{RawFileSystem: anyStatfs{fs.NewNodeFS(f.Root(), fo), f}}
	raw = &rawRefs{RawFileSystem: raw, s: f.refs}
	switch {
	case o.NoXattrs:
		raw = noXattrs{raw}
	case fo.EnableAcl:
		raw = unsupported{raw, []string{selinuxXattr}}
	default:
		raw = unsupported{raw, append([]string{selinuxXattr}, aclXattrs...)}
	}
	counting := &countingFS{RawFileSystem: raw}
	server, fd, err := newServer(counting, mountpoint, &fo.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("mount %s at %s: %w", r.Path(), mountpoint, fusermountError(err))
	}
	// Our own loop, unless the device is not found or go-fuse is to log
	// every request.
	var loop *serveLoop
	if fd >= 0 && !o.Debug {
		if loop, err = newServeLoop(server, fd, counting, &fo.MountOptions, f.refs, f.log); err != nil {
			f.log.Warn("fusefs: serving through go-fuse's loop", "err", err)
			loop = nil
		}
	}
	if loop != nil {
		loop.start()
	} else {
		go server.Serve()
	}
	if err := server.WaitMount(); err != nil {
		return nil, fmt.Errorf("mount %s at %s: %w", r.Path(), mountpoint, err)
	}
	// Only now may the watch tell the kernel what changed: go-fuse's
	// notifications need the server it learns of in INIT.
	f.refs.server.Store(server)
	f.refs.commits.Store(f.root.GetChild("commits"))
	close(f.refs.serving)
	mounted = true
	return &Mount{FS: f, Mountpoint: mountpoint, server: server, loop: loop, direct: fo.DirectMountStrict, counting: counting, cancel: cancel, watchDone: watchDone}, nil
}

// baseProcs is GOMAXPROCS as the process started: what the CPU-bound work
// (read-ahead) is sized by, whatever newServer sets it to later.
var baseProcs = runtime.GOMAXPROCS(0)

var procsMu sync.Mutex

// newServer is fuse.NewServer with two more Ps than go-fuse's readers can
// hold. go-fuse keeps up to min(max(GOMAXPROCS, 2), 16)+1 goroutines
// blocked in read(2) on /dev/fuse, and each holds its P while blocked.
// With every P so held, the runtime's monitor takes them back 20 µs into
// the read and wakes a thread to look for other work, on every request:
// a quarter of the mount's CPU time on a stream of small requests (ls -l
// asks every file for an xattr), and a reader that must find a P again
// when its request arrives. With a P to spare the monitor leaves the
// readers alone, and a stream of small requests costs less.
//
// It also returns the server's descriptor of /dev/fuse, for serveLoop:
// the one that appeared meanwhile (mounts of this process are made one
// at a time, here), or -1 if that is not clear.
func newServer(fs fuse.RawFileSystem, mountpoint string, o *fuse.MountOptions) (*fuse.Server, int, error) {
	procsMu.Lock()
	defer procsMu.Unlock()
	// go-fuse sizes its readers by GOMAXPROCS now: the base, not what an
	// earlier mount of this process raised it to.
	runtime.GOMAXPROCS(baseProcs)
	before := fuseFDs()
	server, err := fuse.NewServer(fs, mountpoint, o)
	fd := -1
	if err == nil {
		fd = newFuseFD(before, fuseFDs())
	}
	readers := min(max(baseProcs, 2), 16) + 1
	runtime.GOMAXPROCS(max(baseProcs, readers+1))
	return server, fd, err
}

// Unmount unmounts cleanly; it fails with ErrBusy while files are open or
// a process has its working directory inside, and the mount keeps serving.
func (m *Mount) Unmount() error {
	err := fusermountError(m.unmount())
	if err != nil {
		if errors.Is(err, syscall.EBUSY) || isBusy(err) {
			return fmt.Errorf("unmount %s: %w (a process has a file open or its working directory inside; the mount keeps serving)", m.Mountpoint, ErrBusy)
		}
		return fmt.Errorf("unmount %s: %w", m.Mountpoint, err)
	}
	m.stop()
	return nil
}

// unmount unmounts, as go-fuse's server does for its own loop: a few
// times if need be, while the kernel finishes with files just closed;
// then waits for the loop to end.
func (m *Mount) unmount() error {
	if m.loop == nil {
		return m.server.Unmount()
	}
	var err error
	delay := time.Duration(0)
	for range 5 {
		if err = unmountOnce(m.Mountpoint, m.direct); err == nil {
			<-m.loop.done
			return nil
		}
		delay = 2*delay + 5*time.Millisecond
		time.Sleep(delay)
	}
	return err
}

// unmountOnce unmounts mp: with umount(2) if mounted with mount(2), else
// with fusermount3, whose failure it words as go-fuse does (see
// fusermountError).
func unmountOnce(mp string, direct bool) error {
	if direct {
		return syscall.Unmount(mp, 0)
	}
	var stderr strings.Builder
	cmd := exec.Command("fusermount3", "-u", mp)
	cmd.Stderr = &stderr
	err := cmd.Run()
	if stderr.Len() > 0 {
		return fmt.Errorf("%s (code %v)\n", stderr.String(), err)
	}
	return err
}

// Detach unmounts lazily: the mount disappears from the namespace now and
// goes away when its last user does.
func (m *Mount) Detach() error {
	if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach %s: %w", m.Mountpoint, err)
	}
	m.stop()
	return nil
}

func (m *Mount) stop() {
	m.FS.descend.stop()
	m.cancel()
	<-m.watchDone
}

// Wait blocks until the file system is unmounted, by us or by someone
// else (umount, fusermount3 -u).
func (m *Mount) Wait() {
	if m.loop != nil {
		<-m.loop.done
	} else {
		m.server.Wait()
	}
	m.FS.descend.stop()
	m.cancel()
	<-m.watchDone
}

// Requests returns how many FUSE requests of each kind were served so far.
func (m *Mount) Requests() RequestCounts { return m.counting.counts() }

// FusermountError is fusermount3 failing to mount or unmount.
type FusermountError struct {
	Status int            // its exit status, if it exited
	Signal syscall.Signal // the signal that killed it, if one did
	// Message is what it wrote on stderr; empty when mounting, where it
	// writes to this process's stderr directly.
	Message string
}

func (e *FusermountError) Error() string {
	var s string
	if e.Signal != 0 {
		s = fmt.Sprintf("fusermount3 was killed by signal %d (%v)", int(e.Signal), e.Signal)
	} else {
		s = fmt.Sprintf("fusermount3 exited with status %d", e.Status)
	}
	if e.Message == "" {
		return s + "; its reason, if it gave one, went to stderr"
	}
	return s + ": " + e.Message
}

// go-fuse's words for a failed fusermount3: mounting, the raw wait status;
// unmounting, its stderr and then its *exec.ExitError (or <nil> when it
// wrote something and succeeded).
var (
	fusermountMountRE   = regexp.MustCompile(`^fusermount exited with code (\d+)\s*$`)
	fusermountUnmountRE = regexp.MustCompile(`(?s)^(.*) \(code (.*)\)\s*$`)
	exitStatusRE        = regexp.MustCompile(`^exit status (\d+)$`)
	signalRE            = regexp.MustCompile(`^signal: (.+)$`)
)

// fusermountError turns go-fuse's report of a failed fusermount3 into a
// *FusermountError with the exit status and the message; other errors it
// returns as they are.
func fusermountError(err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	if m := fusermountMountRE.FindStringSubmatch(text); m != nil {
		n, perr := strconv.ParseUint(m[1], 10, 32)
		if perr != nil {
			return err
		}
		ws := syscall.WaitStatus(n)
		switch {
		case ws.Exited():
			return &FusermountError{Status: ws.ExitStatus()}
		case ws.Signaled():
			return &FusermountError{Signal: ws.Signal()}
		}
		return err
	}
	m := fusermountUnmountRE.FindStringSubmatch(text)
	if m == nil {
		return err
	}
	msg, code := strings.TrimSpace(m[1]), m[2]
	if code == "<nil>" {
		return nil // it succeeded, with a warning
	}
	if c := exitStatusRE.FindStringSubmatch(code); c != nil {
		n, _ := strconv.Atoi(c[1])
		return &FusermountError{Status: n, Message: msg}
	}
	if c := signalRE.FindStringSubmatch(code); c != nil {
		for sig := syscall.Signal(1); sig < 65; sig++ {
			if sig.String() == c[1] {
				return &FusermountError{Signal: sig, Message: msg}
			}
		}
	}
	return err
}

func isBusy(err error) bool {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en == syscall.EBUSY
	}
	// fusermount3 reports it only in words.
	return strings.Contains(err.Error(), "busy")
}
