package fusefs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
)

// TestMain lets a test mmap a file of the mount from a child process.
func TestMain(m *testing.M) {
	if p := os.Getenv("FUSEFS_TEST_MMAP"); p != "" {
		f, err := os.Open(p)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		st, _ := f.Stat()
		data, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Printf("%x\n", sha256.Sum256(data))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testMount mounts the repository at repoPath for real and unmounts it when
// the test ends.
func testMount(t *testing.T, repoPath string) (*Mount, string) {
	t.Helper()
	return testMountWith(t, repoPath, MountOptions{})
}

// testMountWith is testMount with options.
func testMountWith(t *testing.T, repoPath string, o MountOptions) (*Mount, string) {
	t.Helper()
	return mountForTest(t, repoPath, o)
}

// fuseDevice is what requireFUSE looks for; a test swaps it.
var fuseDevice = "/dev/fuse"

// requireFUSE skips the test, loudly, without /dev/fuse. In CI (where $CI
// is set) it fails the test instead, as repotest.RequireOstree does
// without ostree: the FUSE tests must run there.
func requireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(fuseDevice); err != nil {
		msg := fmt.Sprintf("no %s (%v); FUSE tests NOT RUN", fuseDevice, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		} else {
			t.Skip("SKIP: " + msg)
		}
	}
}

// verdictTB records how requireFUSE ends a test instead of ending it.
type verdictTB struct {
	testing.TB
	fatal, skip bool
}

func (v *verdictTB) Helper()      {}
func (v *verdictTB) Fatal(...any) { v.fatal = true }
func (v *verdictTB) Skip(...any)  { v.skip = true }

// TestRequireFUSE: without /dev/fuse a FUSE test is skipped, except in CI,
// where it fails.
func TestRequireFUSE(t *testing.T) {
	old := fuseDevice
	fuseDevice = filepath.Join(t.TempDir(), "no-fuse")
	t.Cleanup(func() { fuseDevice = old })
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		v := &verdictTB{TB: t}
		requireFUSE(v)
		if want := ci != ""; v.fatal != want || v.skip == want {
			t.Errorf("CI=%q: fatal %v, skip %v; want fatal %v", ci, v.fatal, v.skip, want)
		}
	}
}

// mountForTest is testMountWith for tests and benchmarks.
func mountForTest(t testing.TB, repoPath string, o MountOptions) (*Mount, string) {
	t.Helper()
	requireFUSE(t)
	r, err := repo.Open(repoPath)
	if err != nil {
		t.Fatal(err)
	}
	mp := t.TempDir()
	if o.CacheDir == "" {
		o.CacheDir = t.TempDir()
	}
	o.Debug = testing.Verbose() && os.Getenv("FUSE_DEBUG") != ""
	m, err := MountRepo(context.Background(), r, mp, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
			m.Detach()
		}
	})
	return m, mp
}

// entry is what a tree walk records of one path.
type entry struct {
	mode     os.FileMode
	uid, gid uint32
	size     int64
	sum      string // content hash or symlink target
	xattrs   string
}

func walkTree(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		info, _ := d.Info()
		e := entry{mode: info.Mode(), uid: st.Uid, gid: st.Gid, xattrs: xattrs(t, p)}
		switch {
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
			e.size = int64(len(b))
			e.sum = fmt.Sprintf("%x", sha256.Sum256(b))
		case info.Mode()&os.ModeSymlink != 0:
			e.sum, _ = os.Readlink(p)
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func xattrs(t *testing.T, p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	var names []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if strings.HasPrefix(name, "security.") {
			continue // the checkout's file system may add its own
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", p, name, err)
		}
		fmt.Fprintf(&b, "%s=%q;", name, v[:m])
	}
	return b.String()
}

// TestMountEqualsCheckout compares every commit of an ostree-made fixture,
// in every mode, with ostree's own checkout of it, and refs/ with ostree's
// refs.
func TestMountEqualsCheckout(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			fx := repotest.NewFixture(t, mode, repotest.FixtureOpts{Wide: 300})
			_, mp := testMount(t, fx.Repo)
			for _, c := range fx.Commits {
				co := filepath.Join(t.TempDir(), "co")
				repotest.Ostree(t, "--repo="+fx.Repo, "checkout", c, co)
				want := walkTree(t, co)
				got := walkTree(t, filepath.Join(mp, "commits", c))
				for p, w := range want {
					g, ok := got[p]
					if !ok {
						t.Errorf("%s: %s missing from the mount", c[:8], p)
						continue
					}
					if p == "." {
						g.mode, w.mode = g.mode.Perm(), w.mode.Perm() // checkout's root is a fresh dir
						g.uid, w.uid, g.gid, w.gid = 0, 0, 0, 0
					}
					if g != w {
						t.Errorf("%s: %s: mount %+v, checkout %+v", c[:8], p, g, w)
					}
				}
				for p := range got {
					if _, ok := want[p]; !ok {
						t.Errorf("%s: %s in the mount, not in the checkout", c[:8], p)
					}
				}
			}
			// refs/ against ostree refs.
			var got []string
			filepath.WalkDir(filepath.Join(mp, "refs", "heads"), func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type()&fs.ModeSymlink != 0 {
					target, _ := os.Readlink(p)
					rel, _ := filepath.Rel(filepath.Join(mp, "refs", "heads"), p)
					resolved := filepath.Join(filepath.Dir(p), target)
					if _, err := os.Stat(resolved); err != nil {
						t.Errorf("ref %s -> %s does not resolve: %v", rel, target, err)
					}
					got = append(got, rel+" "+filepath.Base(target))
				}
				return nil
			})
			var want []string
			for ref, c := range fx.Refs {
				want = append(want, ref+" "+c)
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("refs/heads:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			out := repotest.Ostree(t, "--repo="+fx.Repo, "refs")
			if n := len(strings.Fields(out)); n != len(got) {
				t.Errorf("ostree refs lists %d refs, the mount %d", n, len(got))
			}
		})
	}
}

// TestReadOnlyPOSIX is a read-only conformance suite through the mountpoint.
func TestReadOnlyPOSIX(t *testing.T) {
	for _, mode := range []string{"archive", "bare-user"} {
		t.Run(mode, func(t *testing.T) {
			repoPath := filepath.Join(t.TempDir(), "repo")
			testrepo.Init(t, repoPath, mode)
			src := t.TempDir()
			big := repotest.Pseudorandom("big", 5<<20+123)
			repotest.WriteTree(t, src, []repotest.Entry{
				{Path: "big", Kind: repotest.File, Data: big},
				{Path: "small", Kind: repotest.File, Data: []byte("small\n"), Xattrs: map[string]string{"user.k": "v"}},
				{Path: "link", Kind: repotest.Symlink, Target: "small"},
				{Path: "dir/x", Kind: repotest.File, Data: []byte("x")},
				{Path: "secret", Kind: repotest.File, Data: []byte("s"), Mode: 0o600},
			})
			c := testrepo.Commit(t, repoPath, "main", src, repotest.CommitOpts{Timestamp: "2024-05-06T07:08:09Z"})
			_, mp := testMount(t, repoPath)
			root := filepath.Join(mp, "commits", c)

			// stat, readdir, readlink, xattrs, mtime.
			st, err := os.Stat(filepath.Join(root, "big"))
			if err != nil || st.Size() != int64(len(big)) || st.Mode() != 0o644 {
				t.Fatalf("stat big: %v %v", st, err)
			}
			if want := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC); !st.ModTime().Equal(want) {
				t.Errorf("mtime %v, want the commit's %v", st.ModTime(), want)
			}
			names, err := os.ReadDir(root)
			if err != nil || len(names) != 5 {
				t.Errorf("readdir: %v %v", names, err)
			}
			if target, err := os.Readlink(filepath.Join(root, "link")); err != nil || target != "small" {
				t.Errorf("readlink: %q %v", target, err)
			}
			if b, err := os.ReadFile(filepath.Join(root, "link")); err != nil || string(b) != "small\n" {
				t.Errorf("read through link: %q %v", b, err)
			}
			v := make([]byte, 10)
			if n, err := unix.Getxattr(filepath.Join(root, "small"), "user.k", v); err != nil || string(v[:n]) != "v" {
				t.Errorf("getxattr: %q %v", v[:n], err)
			}
			if _, err := unix.Getxattr(filepath.Join(root, "small"), "user.none", v); !errors.Is(err, unix.ENODATA) {
				t.Errorf("getxattr of a missing name: %v, want ENODATA", err)
			}
			var sfs unix.Statfs_t
			if err := unix.Statfs(root, &sfs); err != nil || sfs.Blocks == 0 {
				t.Errorf("statfs: %+v %v", sfs, err)
			}

			// Every write fails with EROFS.
			p := filepath.Join(root, "small")
			for name, op := range map[string]func() error{
				"open O_WRONLY": func() error { f, err := os.OpenFile(p, os.O_WRONLY, 0); f.Close(); return err },
				"create":        func() error { return os.WriteFile(filepath.Join(root, "new"), nil, 0o644) },
				"mkdir":         func() error { return os.Mkdir(filepath.Join(root, "d2"), 0o755) },
				"unlink":        func() error { return os.Remove(p) },
				"rename":        func() error { return os.Rename(p, p+"2") },
				"chmod":         func() error { return os.Chmod(p, 0o777) },
				"setxattr":      func() error { return unix.Setxattr(p, "user.k", []byte("w"), 0) },
				"symlink":       func() error { return os.Symlink("x", filepath.Join(root, "l2")) },
				"truncate":      func() error { return os.Truncate(p, 0) },
			} {
				if err := op(); !errors.Is(err, syscall.EROFS) {
					t.Errorf("%s: %v, want EROFS", name, err)
				}
			}

			// Random-offset reads, mmap, and concurrent readers.
			var wg sync.WaitGroup
			errc := make(chan error, 8)
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					f, err := os.Open(filepath.Join(root, "big"))
					if err != nil {
						errc <- err
						return
					}
					defer f.Close()
					rng := rand.New(rand.NewPCG(uint64(g), 1))
					buf := make([]byte, 70000)
					for range 200 {
						off := rng.Int64N(int64(len(big)))
						n, err := f.ReadAt(buf[:rng.IntN(len(buf))+1], off)
						if err != nil && err != io.EOF {
							errc <- err
							return
						}
						if !bytes.Equal(buf[:n], big[off:off+int64(n)]) {
							errc <- fmt.Errorf("reader %d: wrong bytes at %d", g, off)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Error(err)
			}
			// mmap in another process: a page fault on our own mount from
			// inside this process could deadlock with the garbage
			// collector stopping the goroutines that serve it.
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "FUSEFS_TEST_MMAP="+filepath.Join(root, "big"))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("mmap child: %v", err)
			}
			if want := fmt.Sprintf("%x", sha256.Sum256(big)); strings.TrimSpace(string(out)) != want {
				t.Errorf("mmap read hashes to %s, the source to %s", out, want)
			}
		})
	}
}

// writeRaw writes an object file the way an attacker (or a disk error)
// would: bypassing every check.
func writeRaw(t *testing.T, repoPath string, data []byte, ext string) repo.Checksum {
	t.Helper()
	c := repo.Checksum(sha256.Sum256(data))
	p := filepath.Join(repoPath, "objects", c.String()[:2], c.String()[2:]+"."+ext)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHostileRepository serves commits whose dirtrees hold "..", "a/b" and
// duplicates, a partial commit, and a truncated .filez: lookups fail with
// EIO or ENOENT, nothing escapes, and the mount keeps serving.
func TestHostileRepository(t *testing.T) {
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "archive")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{
		{Path: "ok", Kind: repotest.File, Data: []byte("fine\n")},
		{Path: "big", Kind: repotest.File, Data: repotest.Pseudorandom("t", 3<<20)},
	})
	good := testrepo.Commit(t, repoPath, "good", src, repotest.CommitOpts{})
	r, err := repo.Open(repoPath)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := r.ReadCommit(mustChecksum(t, good))
	if err != nil {
		t.Fatal(err)
	}
	root, err := r.ReadDirTree(gc.RootTree)
	if err != nil {
		t.Fatal(err)
	}
	okContent := root.Files[1].Content // "ok" sorts after "big"
	hostile := map[string]gvariant.DirTree{
		"dotdot":    {Files: []gvariant.TreeFile{{Name: "..", Checksum: okContent[:]}}},
		"slash":     {Files: []gvariant.TreeFile{{Name: "a/b", Checksum: okContent[:]}}},
		"duplicate": {Files: []gvariant.TreeFile{{Name: "x", Checksum: okContent[:]}, {Name: "x", Checksum: okContent[:]}}},
	}
	bad := map[string]repo.Checksum{}
	for name, tree := range hostile {
		tc := writeRaw(t, repoPath, gvariant.EncodeDirTree(tree), "dirtree")
		cc := writeRaw(t, repoPath, gvariant.EncodeCommit(gvariant.Commit{Subject: name, Timestamp: 1,
			RootTree: tc[:], RootMeta: gc.RootMeta[:]}), "commit")
		bad[name] = cc
	}
	// A partial commit is not shown.
	partial := writeRaw(t, repoPath, gvariant.EncodeCommit(gvariant.Commit{Subject: "partial", Timestamp: 2,
		RootTree: gc.RootTree[:], RootMeta: gc.RootMeta[:]}), "commit")
	os.MkdirAll(filepath.Join(repoPath, "state"), 0o755)
	os.WriteFile(filepath.Join(repoPath, "state", partial.String()+".commitpartial"), nil, 0o644)

	_, mp := testMount(t, repoPath)
	for name, c := range bad {
		_, err := os.ReadDir(filepath.Join(mp, "commits", c.String()))
		if !errors.Is(err, syscall.EIO) && !errors.Is(err, syscall.ENOENT) {
			t.Errorf("%s: readdir: %v, want EIO or ENOENT", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(mp, "commits", partial.String())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial commit visible: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(mp, "commits"))
	for _, e := range ents {
		if e.Name() == partial.String() {
			t.Error("readdir of commits/ lists the partial commit")
		}
	}

	// Truncate the big file's .filez: reading it ends in EIO.
	bigContent := root.Files[0].Content.String()
	obj := filepath.Join(repoPath, "objects", bigContent[:2], bigContent[2:]+".filez")
	st, _ := os.Stat(obj)
	if err := os.Truncate(obj, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(filepath.Join(mp, "commits", good, "big")); !errors.Is(err, syscall.EIO) {
		t.Errorf("read of a truncated .filez: %v, want EIO", err)
	}
	// Still serving.
	if b, err := os.ReadFile(filepath.Join(mp, "commits", good, "ok")); err != nil || string(b) != "fine\n" {
		t.Errorf("after the bad objects: %q %v", b, err)
	}
}

func mustChecksum(t *testing.T, s string) repo.Checksum {
	t.Helper()
	c, err := repo.ParseChecksum(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBusyUnmount: an open file makes Unmount fail with ErrBusy while the
// mount keeps serving; after it is closed, Unmount succeeds.
func TestBusyUnmount(t *testing.T) {
	requireFUSE(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "bare-user")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "f", Kind: repotest.File, Data: []byte("busy")}})
	c := testrepo.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	r, _ := repo.Open(repoPath)
	mp := t.TempDir()
	m, err := MountRepo(context.Background(), r, mp, MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(mp, "commits", c, "f"))
	if err != nil {
		m.Detach()
		t.Fatal(err)
	}
	if err := m.Unmount(); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), mp) {
		t.Errorf("unmount while busy: %v, want ErrBusy naming %s", err, mp)
	}
	if b, err := io.ReadAll(f); err != nil || string(b) != "busy" {
		t.Errorf("still serving: %q %v", b, err)
	}
	f.Close()
	if err := m.Unmount(); err != nil {
		t.Fatalf("unmount after close: %v", err)
	}
	if err := checkMountpoint(mp, false); err != nil {
		t.Errorf("after unmount: %v", err)
	}
}

// TestServerProcs: a mount leaves the runtime one P more than go-fuse's
// readers can hold while blocked (see newServer), and mounting again does
// not raise it further.
func TestServerProcs(t *testing.T) {
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "bare-user")
	want := max(baseProcs, min(max(baseProcs, 2), 16)+2)
	for i := range 2 {
		testMount(t, repoPath)
		if got := runtime.GOMAXPROCS(0); got != want {
			t.Errorf("after mount %d: GOMAXPROCS %d, want %d (base %d)", i+1, got, want, baseProcs)
		}
	}
}
