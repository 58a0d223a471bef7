package repo

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// stageDir is a transaction's staging directory, held open: every object is
// created, linked and looked up relative to its descriptor, so staging one
// costs no path walk from the repository root. Objects are created as
// unnamed O_TMPFILEs, which take no lock on the directory and leave no
// debris when a write fails, and get their name, in the objects
// subdirectory XX, with one linkat once written and verified, as libostree
// does. Where O_TMPFILE is missing they are named temporaries, renamed.
type stageDir struct {
	path      string
	fd        int
	made      [256]atomic.Bool // the subdirectory for this first checksum byte exists
	noTmpfile atomic.Bool      // use named temporaries: O_TMPFILE is not supported here
	// umask is the process's umask when the directory was opened, or all
	// bits when a default ACL on it, not the umask, decides what a new
	// file's mode becomes: see createMode.
	umask uint32

	mu     sync.Mutex
	staged map[stagedKey]int64 // every object staged, see has; its counted payload (-1: not counted)

	total     atomic.Int64 // bytes staged in all (counted for writeback)
	dirty     atomic.Int64 // bytes staged since the last background flush began
	flushing  atomic.Bool
	flushDone sync.WaitGroup
}

// Background flushes bound what commit's syncfs has left to write back.
// Without them it wrote the whole transaction at once, from one thread,
// with the disk idle until then and the pull's own work done. A flush
// starts once the bytes staged since the last one began reach an eighth
// of all the transaction staged so far, kept within writebackMin and
// writebackMax, and never while one runs: a small transaction (an update
// through a static delta stages some tens of MB) is written back while
// it goes on and leaves commit at most a few MiB, and a large one still
// flushes a few dozen times, not hundreds.
const (
	writebackMin = 2 << 20
	writebackMax = 32 << 20
)

// writebackAfter is how many dirty bytes start a flush once total bytes
// were staged.
func writebackAfter(total int64) int64 {
	return min(max(total/8, writebackMin), writebackMax)
}

// wrote counts n staged bytes and starts a background syncfs when
// writebackAfter says. Durability still comes from commit's own syncfs;
// these only get ahead of it.
func (d *stageDir) wrote(n int64) {
	total := d.total.Add(n)
	if d.dirty.Add(n) < writebackAfter(total) || !d.flushing.CompareAndSwap(false, true) {
		return
	}
	d.dirty.Store(0)
	d.flushDone.Add(1)
	go func() {
		defer d.flushDone.Done()
		unix.Syncfs(d.fd)
		d.flushing.Store(false)
	}()
}

// stagedKey names a staged object.
type stagedKey struct {
	c Checksum
	t ObjectType
}

// openStageDir opens a staging directory that holds the objects kept.
func openStageDir(path string, kept []stagedKey) (*stageDir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open staging directory %s: %w", path, err)
	}
	d := &stageDir{path: path, fd: fd, staged: make(map[stagedKey]int64, len(kept))}
	for _, k := range kept {
		d.staged[k] = -1
	}
	d.noTmpfile.Store(!tmpfileLinkable())
	d.umask = stageUmask()
	if hasDefaultACL(fd) {
		d.umask = 0o777
	}
	return d, nil
}

// stageUmask is the umask that new staged files get their mode through:
// processUmask, read once, unless a test plays another.
var stageUmask = func() uint32 { return processUmask() }

// hasDefaultACL reports whether the directory fd has a default ACL, which
// replaces the umask for files created in it; when that cannot be told,
// it reports true, so that every mode is set by fchmod.
func hasDefaultACL(fd int) bool {
	_, err := unix.Fgetxattr(fd, "system.posix_acl_default", nil)
	return !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.EOPNOTSUPP)
}

// close closes the directory once its writers are done: Commit and Abort
// run after every write of the transaction returned (its callers join
// their writers first), so nothing stages or starts a flush meanwhile.
func (d *stageDir) close() error {
	if d.fd < 0 {
		return nil
	}
	d.flushDone.Wait()
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// openTmpfile, when set, replaces the openat(O_TMPFILE) of createTmpfile:
// tests set it to play a filesystem without O_TMPFILE.
var openTmpfile func(dirfd int) (int, error)

// tmpfileLinkable reports whether an O_TMPFILE can be given a name: that
// goes through /proc/self/fd, which needs procfs.
func tmpfileLinkable() bool { return unix.Access("/proc/self/fd", unix.F_OK) == nil }

// createTmpfile opens an unnamed file of mode perm (less the umask) in
// dirfd, unless off says the filesystem has no O_TMPFILE. fd -1 with no
// error means: create a named file instead; the first EOPNOTSUPP (no
// O_TMPFILE on this filesystem) or EISDIR (a kernel that predates it and
// saw O_DIRECTORY alone) sets off.
func createTmpfile(dirfd int, perm uint32, off *atomic.Bool) (int, error) {
	if off.Load() {
		return -1, nil
	}
	var fd int
	var err error
	if openTmpfile != nil {
		fd, err = openTmpfile(dirfd)
	} else {
		fd, err = unix.Openat(dirfd, ".", unix.O_WRONLY|unix.O_TMPFILE|unix.O_CLOEXEC, perm)
	}
	if err == nil {
		return fd, nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) {
		return -1, err
	}
	off.Store(true)
	return -1, nil
}

// linkTmpfile names the O_TMPFILE fd name in dirfd, never replacing: an
// existing name, symlink or not, fails with EEXIST.
func linkTmpfile(fd, dirfd int, name string) error {
	// AT_EMPTY_PATH links the descriptor itself, with no walk through
	// /proc, but needs CAP_DAC_READ_SEARCH (ENOENT without it): the /proc
	// path needs none, and is used from the first refusal on.
	if !noEmptyPathLink.Load() {
		err := linkEmptyPath(fd, dirfd, name)
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EPERM) {
			return err
		}
		// ENOENT may also be dirfd's doing: the /proc link tells.
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW)
		if err == nil {
			noEmptyPathLink.Store(true)
		}
		return err
	}
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW)
}

// noEmptyPathLink is set once linkat with AT_EMPTY_PATH was refused.
var noEmptyPathLink atomic.Bool

// linkEmptyPath is linkat(fd, "", dirfd, name, AT_EMPTY_PATH). Tests swap
// it to play a process without CAP_DAC_READ_SEARCH.
var linkEmptyPath = func(fd, dirfd int, name string) error {
	return unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH)
}

// staged is an object being written in the staging directory: an open
// file (fd ≥ 0) or a symlink (fd -1), unnamed (name "") or under a
// temporary name.
type staged struct {
	d       *stageDir
	fd      int
	name    string
	written int64
	payload uint64 // a content object's payload size, for the transaction's counts
	perm    uint32 // the permission bits the file was created with, exactly; 0: unknown
}

// create opens a new object file for writing, of mode 0600. named forces
// a temporary name, for objects placed by a replacing rename.
func (d *stageDir) create(named bool) (*staged, error) {
	return d.createMode(named, 0)
}

// createMode is create of a file whose mode is to be perm: the file is
// created with it where the umask takes none of its bits (and no default
// ACL stands in for the umask), which spares the fchmod that staging
// would do next (see setPerm); perm 0 asks for 0600. A file created with
// perm has s.perm set.
func (d *stageDir) createMode(named bool, perm uint32) (*staged, error) {
	m := uint32(0o600)
	if perm != 0 && perm&^0o777 == 0 && perm&d.umask == 0 {
		m = perm
	}
	s := &staged{d: d}
	if m == perm {
		s.perm = perm
	}
	if !named {
		fd, err := createTmpfile(d.fd, m, &d.noTmpfile)
		if err != nil {
			return nil, fmt.Errorf("stage object: create a temporary file in %s: %w", d.path, err)
		}
		if fd >= 0 {
			if openTmpfile != nil {
				s.perm = 0 // a test's file, of whatever mode
			}
			s.fd = fd
			return s, nil
		}
	}
	for i := 0; ; i++ {
		name := ".tmp-" + strconv.FormatUint(uint64(randomInt()), 36)
		fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, m)
		if errors.Is(err, unix.EEXIST) && i < 100 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stage object: create %s/%s: %w", d.path, name, err)
		}
		s.fd, s.name = fd, name
		return s, nil
	}
}

// setPerm gives the file the permission bits perm, unless it was created
// with them.
func (s *staged) setPerm(perm uint32) error {
	if s.perm != 0 && s.perm == perm {
		return nil
	}
	return fchmodObject(s.fd, perm)
}

// fchmodObject is fchmod(2); tests count its calls.
var fchmodObject = unix.Fchmod

// Write writes all of b.
func (s *staged) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Write(s.fd, b[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("stage object: write: %w", err)
		}
		n += m
	}
	s.written += int64(n)
	return n, nil
}

// closeFile closes the descriptor, once.
func (s *staged) closeFile() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// discard drops an object that will not be placed.
func (s *staged) discard() {
	s.closeFile()
	if s.name != "" {
		unix.Unlinkat(s.d.fd, s.name, 0)
	}
}

// mkdirFor makes the subdirectory for objects whose checksum starts with b.
func (d *stageDir) mkdirFor(b byte) error {
	if d.made[b].Load() {
		return nil
	}
	if err := unix.Mkdirat(d.fd, hexByte(b), 0o777); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("mkdir %s/%s: %w", d.path, hexByte(b), err)
	}
	d.made[b].Store(true)
	return nil
}

func hexByte(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// link gives s the name rel in the staging directory, without replacing
// (unix.EEXIST: the name exists), or replacing when replace is set.
func (s *staged) link(rel string, replace bool) error {
	switch {
	case s.name == "":
		return linkTmpfile(s.fd, s.d.fd, rel)
	case replace:
		return unix.Renameat(s.d.fd, s.name, s.d.fd, rel)
	default:
		return unix.Renameat2(s.d.fd, s.name, s.d.fd, rel, unix.RENAME_NOREPLACE)
	}
}

// has reports whether the object is staged. The staging directory is
// locked to this transaction, so what it holds is what Begin found there
// (verified) plus what place put there since: no stat per object.
func (d *stageDir) has(c Checksum, t ObjectType) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.staged[stagedKey{c, t}]
	return ok
}

func (d *stageDir) noteStaged(c Checksum, t ObjectType) {
	d.mu.Lock()
	d.staged[stagedKey{c, t}] = -1
	d.mu.Unlock()
}

// noteCounted notes an object staged and counted as written, with its
// payload size.
func (d *stageDir) noteCounted(c Checksum, t ObjectType, payload uint64) {
	d.mu.Lock()
	d.staged[stagedKey{c, t}] = int64(payload)
	d.mu.Unlock()
}

// counted returns the payload of an object this transaction counted as
// written.
func (d *stageDir) counted(c Checksum, t ObjectType) (uint64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.staged[stagedKey{c, t}]
	return uint64(n), ok && n >= 0
}

// futimensZero sets a file's atime and mtime to the epoch, as ostree does
// for objects of bare modes. x/sys/unix offers this only through
// /proc/self/fd (Futimes), a path walk per call; utimensat with a NULL
// path is futimens(3).
func futimensZero(fd int) error {
	var ts [2]unix.Timespec
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// fdReader reads a bare descriptor. Opening an *os.File costs four
// fcntl and an epoll_ctl beyond the openat (the poller tries, and fails,
// to take a regular file), which is a fifth of all syscalls when a commit
// reads thousands of small files.
type fdReader int

func (f fdReader) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(int(f), b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(b) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}
