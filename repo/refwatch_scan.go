package repo

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// scanRefs reads the refs below dir ("" for all of refs/), by their paths
// under refs/ as AllRefs names them, and the directories that hold them,
// dir included. watch, if set, is called on every directory before it is
// read, so that a change after the read is notified. The first error
// that is not a file or directory vanishing meanwhile is returned, with
// what could be read.
func scanRefs(repoPath, dir string, watch func(string) (int32, error)) *refWalk {
	return scanRefsSome(repoPath, dir, watch, nil)
}

// scanRefsSome is scanRefs reading, below dir, only the directories
// descend allows (all if nil); the others it lists as stubs. A mirror's
// refs/ holds tens of thousands of small directories (app/ID/ARCH/BRANCH),
// and reading them one after the other leaves the disk and the cores idle
// between system calls: many are read at once.
func scanRefsSome(repoPath, dir string, watch func(string) (int32, error), descend func(string) bool) *refWalk {
	refs := filepath.Join(repoPath, "refs")
	s := &refWalk{
		root: filepath.Join(refs, filepath.FromSlash(dir)), prefix: dir,
		watch: true, refsDir: refs, enter: watch, descend: descend, split: 2,
	}
	if descend == nil || dir == "" {
		s.sem = make(chan struct{}, min(4*runtime.GOMAXPROCS(0), 32))
	} // else mostly one directory, read here
	if dir == "" || refDirAllowed(dir) {
		s.run()
	}
	return s
}

// aliasTarget returns the path under refs/ of the ref that the symlink
// at p (full on disk) names, or "" if it lies outside refs/.
func (s *refWalk) aliasTarget(p, full string) string {
	t, err := os.Readlink(full)
	if err != nil {
		return ""
	}
	if !filepath.IsAbs(t) {
		t = filepath.Join(filepath.Dir(full), t)
	}
	rel, err := filepath.Rel(s.refsDir, filepath.Clean(t))
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
	var buf [refFileMax]byte
	data, op, err := readRefBytes(dirfd, name, &buf)
	switch {
	case op == "open" && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP)):
		return c, false, nil
	case op == "read" && errors.Is(err, unix.EISDIR):
		return c, false, nil
	case err != nil:
		return c, false, fmt.Errorf("read ref %s: %w", path(), err)
	case len(data) == 0:
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
