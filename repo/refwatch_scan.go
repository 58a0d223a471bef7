package repo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// refScan reads a subtree of refs/ with many directories in flight at
// once: a mirror's refs/ holds tens of thousands of small directories
// (app/ID/ARCH/BRANCH), and reading them one after the other leaves the
// disk and the cores idle between system calls.
type refScan struct {
	root string // the repository's refs/
	// watch is called on each directory before it is read, and returns
	// its watch descriptor (-1 if none); it may be nil.
	watch func(dir string) (int32, error)
	// descend tells whether to read a directory found below the first;
	// nil reads them all. One not read is listed in stubs.
	descend func(dir string) bool
	sem     chan struct{}
	wg      sync.WaitGroup

	mu    sync.Mutex
	refs  []scannedRef
	dirs  []scannedDir // the directories read
	stubs []string     // the directories found and not read (see descend)
	// stray are the watches of directories gone before they were read.
	stray []int32
	err   error // the first read that failed: the scan is incomplete
	// watchErr is the first watch that could not be placed: the scan is
	// complete, but a later change there goes unnotified.
	watchErr error
}

// scannedRef is a ref a scan found.
type scannedRef struct {
	path string
	sum  Checksum
	// alias marks a symbolic link, naming the ref target, both under
	// refs/ (target "" if outside refs/).
	alias  bool
	target string
}

// scannedDir is a directory a scan read, watched as wd (-1 if not).
type scannedDir struct {
	path string
	wd   int32
}

// scanRefs reads the refs below dir ("" for all of refs/), by their paths
// under refs/ as AllRefs names them, and the directories that hold them,
// dir included. watch, if set, is called on every directory before it is
// read, so that a change after the read is notified. The first error
// that is not a file or directory vanishing meanwhile is returned, with
// what could be read.
func scanRefs(repoPath, dir string, watch func(string) (int32, error)) *refScan {
	return scanRefsSome(repoPath, dir, watch, nil)
}

// scanRefsSome is scanRefs reading, below dir, only the directories
// descend allows (all if nil); the others it lists as stubs.
func scanRefsSome(repoPath, dir string, watch func(string) (int32, error), descend func(string) bool) *refScan {
	s := &refScan{root: filepath.Join(repoPath, "refs"), watch: watch, descend: descend}
	if descend == nil || dir == "" {
		s.sem = make(chan struct{}, min(4*runtime.GOMAXPROCS(0), 32))
	} // else mostly one directory, read here: no room, spawn reads in place
	if dir == "" || refDirAllowed(dir) {
		s.wg.Add(1)
		s.dir(dir)
		s.wg.Wait()
	}
	return s
}

func (s *refScan) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// spawn reads dir in a goroutine of its own while there is room, else
// here.
func (s *refScan) spawn(dir string) {
	s.wg.Add(1)
	select {
	case s.sem <- struct{}{}:
		go func() {
			defer func() { <-s.sem }()
			s.dir(dir)
		}()
	default:
		s.dir(dir)
	}
}

func (s *refScan) dir(dir string) {
	defer s.wg.Done()
	wd := int32(-1)
	if s.watch != nil {
		var err error
		if wd, err = s.watch(dir); err != nil {
			s.mu.Lock()
			if s.watchErr == nil {
				s.watchErr = err
			}
			s.mu.Unlock()
		}
	}
	listed := false
	defer func() {
		if !listed && wd >= 0 {
			s.mu.Lock()
			s.stray = append(s.stray, wd)
			s.mu.Unlock()
		}
	}()
	full := filepath.Join(s.root, filepath.FromSlash(dir))
	fd, err := unix.Open(full, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return
	}
	if err != nil {
		s.fail(fmt.Errorf("list refs in %s: %w", full, err))
		return
	}
	defer unix.Close(fd)
	err = eachDirent(fd, full, func(name []byte, typ byte) error {
		s.entry(fd, dir, string(name), typ)
		return nil
	})
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		return // removed while being read: its parent's event says so
	case err != nil:
		s.fail(err)
		return
	}
	listed = true
	s.mu.Lock()
	s.dirs = append(s.dirs, scannedDir{dir, wd})
	s.mu.Unlock()
}

// entry takes in the entry name of dir, open as fd, of type typ (a
// DT_ constant; DT_UNKNOWN where the file system does not say).
func (s *refScan) entry(fd int, dir, name string, typ byte) {
	p := join(dir, name)
	if typ == unix.DT_UNKNOWN {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return // gone meanwhile
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			typ = unix.DT_DIR
		case unix.S_IFLNK:
			typ = unix.DT_LNK
		default:
			typ = unix.DT_REG
		}
	}
	if typ == unix.DT_DIR {
		switch {
		case !refDirAllowed(p):
		case s.descend == nil || s.descend(p):
			s.spawn(p)
		default:
			s.mu.Lock()
			s.stubs = append(s.stubs, p)
			s.mu.Unlock()
		}
		return
	}
	if !refFileAllowed(p) {
		return
	}
	if typ == unix.DT_LNK {
		s.ref(p, true)
		return
	}
	c, ok, err := readRefAt(fd, name, func() string { return filepath.Join(s.root, filepath.FromSlash(p)) })
	if err != nil {
		s.fail(err)
	}
	if ok {
		s.mu.Lock()
		s.refs = append(s.refs, scannedRef{path: p, sum: c})
		s.mu.Unlock()
	}
}

// ref reads the ref at p, following an alias.
func (s *refScan) ref(p string, symlink bool) {
	full := filepath.Join(s.root, filepath.FromSlash(p))
	c, ok, err := readRefFast(full)
	if err != nil {
		s.fail(err)
	}
	if !ok {
		return
	}
	target := ""
	if symlink {
		target = s.aliasTarget(p, full)
	}
	s.mu.Lock()
	s.refs = append(s.refs, scannedRef{path: p, sum: c, alias: symlink, target: target})
	s.mu.Unlock()
}

// aliasTarget returns the path under refs/ of the ref that the symlink
// at p (full on disk) names, or "" if it lies outside refs/.
func (s *refScan) aliasTarget(p, full string) string {
	t, err := os.Readlink(full)
	if err != nil {
		return ""
	}
	if !filepath.IsAbs(t) {
		t = filepath.Join(filepath.Dir(full), t)
	}
	rel, err := filepath.Rel(s.root, filepath.Clean(t))
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return ""
	}
	return filepath.ToSlash(rel)
}

// readRefFast reads a ref file with three system calls; ok is false when
// there is no ref there now (gone, a directory, or empty as a file being
// written in place is for a moment), err says why a file holds no ref.
func readRefFast(p string) (c Checksum, ok bool, err error) {
	return readRefAt(unix.AT_FDCWD, p, func() string { return p })
}

// readRefAt is readRefFast of name in the directory open as dirfd; path
// gives its path, for errors (made only then: a walk of a mirror reads a
// hundred thousand refs).
func readRefAt(dirfd int, name string, path func() string) (c Checksum, ok bool, err error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return c, false, nil
		}
		return c, false, fmt.Errorf("read ref %s: %w", path(), err)
	}
	defer unix.Close(fd)
	var buf [128]byte
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EISDIR) {
			return c, false, nil
		}
		if err != nil {
			return c, false, fmt.Errorf("read ref %s: %w", path(), err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	data := bytes.TrimSpace(buf[:n])
	if len(data) == 0 {
		return c, false, nil
	}
	if c, err = ParseChecksum(string(data)); err != nil {
		return c, false, fmt.Errorf("ref file %s: %w", path(), err)
	}
	return c, true, nil
}

// refDirAllowed tells whether the directory at p under refs/ may hold refs:
// refs/heads and what is below, refs/remotes/REMOTE and
// refs/mirrors/COLLECTION and what is below, with valid names, as
// ListRefs and ListMirrorRefs read them.
func refDirAllowed(p string) bool {
	top, rest, deep := strings.Cut(p, "/")
	switch {
	case !deep:
		return top == "heads" || top == "remotes" || top == "mirrors"
	case top == "heads":
		return allFragments(rest)
	case top == "remotes" || top == "mirrors":
		first, below, _ := strings.Cut(rest, "/")
		if top == "remotes" && !validFragment(first) || top == "mirrors" && ValidateCollectionID(first) != nil {
			return false
		}
		return below == "" || allFragments(below)
	}
	return false
}

// refFileAllowed tells whether a file at p under refs/ is a ref.
func refFileAllowed(p string) bool {
	dir, name := path.Split(p)
	if dir == "" || !validFragment(name) {
		return false
	}
	dir = strings.TrimSuffix(dir, "/")
	return refDirAllowed(dir) && (strings.HasPrefix(dir, "heads") || strings.Contains(dir, "/"))
}

func allFragments(p string) bool {
	for f := range strings.SplitSeq(p, "/") {
		if !validFragment(f) {
			return false
		}
	}
	return true
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
