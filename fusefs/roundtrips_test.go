package fusefs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo/repotest"
)

// TestRoundTrips pins the request counts the mount's speed rests on:
// opening, closing and listing cost no round trip after the first, and a
// file read once is read again from the kernel's cache.
func TestRoundTrips(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range []string{"archive", "bare-user"} {
		t.Run(mode, func(t *testing.T) {
			repoPath := filepath.Join(t.TempDir(), "repo")
			repotest.Init(t, repoPath, mode)
			src := t.TempDir()
			var entries []repotest.Entry
			for i := range 20 {
				entries = append(entries, repotest.Entry{Path: fmt.Sprintf("d%d/f%d", i%4, i), Kind: repotest.File, Data: []byte(fmt.Sprint(i))})
			}
			entries[0].Xattrs = map[string]string{"user.k": "v"}
			repotest.WriteTree(t, src, entries)
			c := repotest.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
			m, mp := testMount(t, repoPath)
			root := filepath.Join(mp, "commits", c)

			walk := func() {
				t.Helper()
				for i := range 20 {
					p := filepath.Join(root, fmt.Sprintf("d%d/f%d", i%4, i))
					if b, err := os.ReadFile(p); err != nil || string(b) != fmt.Sprint(i) {
						t.Fatalf("read %s: %q %v", p, b, err)
					}
				}
				for d := range 4 {
					if ents, err := os.ReadDir(filepath.Join(root, fmt.Sprintf("d%d", d))); err != nil || len(ents) != 5 {
						t.Fatalf("readdir: %v %v", ents, err)
					}
				}
			}
			walk()
			first := m.Requests()
			// The first open and opendir answer ENOSYS; the first close
			// is the only FLUSH.
			for op, most := range map[string]uint64{"OPEN": 1, "OPENDIR": 1, "FLUSH": 1, "RELEASE": 0, "RELEASEDIR": 0, "READ": 20} {
				if first[op] > most {
					t.Errorf("%s: %d requests for 20 files in 4 directories, want at most %d", op, first[op], most)
				}
			}
			walk()
			again := m.Requests()
			for op, n := range again {
				if n != first[op] {
					t.Errorf("%s: %d more requests for reading and listing again, want none", op, n-first[op])
				}
			}
			// The objects' xattrs are still served.
			v := make([]byte, 8)
			if n, err := unix.Lgetxattr(filepath.Join(root, "d0/f0"), "user.k", v); err != nil || string(v[:n]) != "v" {
				t.Errorf("getxattr: %q %v", v[:n], err)
			}
			t.Logf("requests: first pass %v, both %v", first, again)
		})
	}
}

// TestNoXattrs: with NoXattrs the kernel answers getxattr and listxattr
// itself after the first request, with EOPNOTSUPP, which ls takes as "no
// xattrs here".
func TestNoXattrs(t *testing.T) {
	repotest.RequireOstree(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, repoPath, "bare-user")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{
		{Path: "a", Kind: repotest.File, Data: []byte("a"), Xattrs: map[string]string{"user.k": "v"}},
		{Path: "b", Kind: repotest.File, Data: []byte("b")},
	})
	c := repotest.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	m, mp := testMountWith(t, repoPath, MountOptions{NoXattrs: true})
	for range 3 {
		for _, name := range []string{"a", "b", ""} {
			p := filepath.Join(mp, "commits", c, name)
			if _, err := unix.Lgetxattr(p, "user.k", make([]byte, 8)); err != unix.EOPNOTSUPP {
				t.Errorf("getxattr %s: %v, want EOPNOTSUPP", p, err)
			}
			if _, err := unix.Llistxattr(p, make([]byte, 64)); err != unix.EOPNOTSUPP {
				t.Errorf("listxattr %s: %v, want EOPNOTSUPP", p, err)
			}
		}
	}
	if n := m.Requests(); n["GETXATTR"] > 1 || n["LISTXATTR"] > 1 {
		t.Errorf("%d GETXATTR and %d LISTXATTR requests, want at most 1 each", n["GETXATTR"], n["LISTXATTR"])
	}
	if b, err := os.ReadFile(filepath.Join(mp, "commits", c, "a")); err != nil || string(b) != "a" {
		t.Errorf("read: %q %v", b, err)
	}
}

// TestLargeListings lists directories that take many READDIRPLUS requests,
// whole, abandoned half way, and by several readers at once, through the
// handles handlelessDirs keeps between requests.
func TestLargeListings(t *testing.T) {
	repotest.RequireOstree(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, repoPath, "bare-user")
	src := t.TempDir()
	const dirs, files = 4, 1500
	var entries []repotest.Entry
	for d := range dirs {
		for i := range files {
			entries = append(entries, repotest.Entry{Path: fmt.Sprintf("d%d/a-rather-long-file-name-to-fill-the-buffers-%05d", d, i), Kind: repotest.File, Data: []byte{byte(i)}})
		}
	}
	repotest.WriteTree(t, src, entries)
	c := repotest.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	_, mp := testMount(t, repoPath)
	root := filepath.Join(mp, "commits", c)
	check := func(d int) error {
		ents, err := os.ReadDir(filepath.Join(root, fmt.Sprintf("d%d", d)))
		if err != nil {
			return err
		}
		if len(ents) != files {
			return fmt.Errorf("d%d lists %d entries, want %d", d, len(ents), files)
		}
		for i, e := range ents {
			if want := fmt.Sprintf("a-rather-long-file-name-to-fill-the-buffers-%05d", i); e.Name() != want {
				return fmt.Errorf("d%d entry %d is %s, want %s", d, i, e.Name(), want)
			}
		}
		return nil
	}
	// Abandoned half way, then whole.
	f, err := os.Open(filepath.Join(root, "d0"))
	if err != nil {
		t.Fatal(err)
	}
	if ents, err := f.ReadDir(100); err != nil || len(ents) != 100 {
		t.Fatalf("partial listing: %d %v", len(ents), err)
	}
	f.Close()
	if err := check(0); err != nil {
		t.Error(err)
	}
	// Several readers of each directory at once, before the kernel has
	// any of them cached.
	errs := make(chan error, 3*(dirs-1))
	for d := 1; d < dirs; d++ {
		for range 3 {
			go func() { errs <- check(d) }()
		}
	}
	for range 3 * (dirs - 1) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestAbandonedRefsListing: a listing of refs/heads abandoned half way must
// not serve its old entries to a later listing once refs changed.
func TestAbandonedRefsListing(t *testing.T) {
	repotest.RequireOstree(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, repoPath, "archive")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "f", Kind: repotest.File, Data: []byte("f")}})
	c := repotest.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	writeRef := func(name string) {
		t.Helper()
		p := filepath.Join(repoPath, "refs", "heads", name)
		if err := os.WriteFile(p+".tmp", []byte(c+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			t.Fatal(err)
		}
	}
	const refs = 600
	for i := range refs {
		writeRef(fmt.Sprintf("a-ref-with-a-name-long-enough-to-need-many-requests-%04d", i))
	}
	_, mp := testMount(t, repoPath)
	heads := filepath.Join(mp, "refs", "heads")
	f, err := os.Open(heads)
	if err != nil {
		t.Fatal(err)
	}
	if ents, err := f.ReadDir(10); err != nil || len(ents) != 10 {
		t.Fatalf("partial listing: %d %v", len(ents), err)
	}
	f.Close()
	writeRef("zz-new")
	// Wait for the watcher through a lookup, which lists nothing, and for
	// its invalidations to be done; then one listing must be right.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Lstat(filepath.Join(heads, "zz-new")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new ref did not show within 5s")
		}
	}
	time.Sleep(100 * time.Millisecond)
	ents, err := os.ReadDir(heads)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != refs+2 || ents[len(ents)-1].Name() != "zz-new" {
		t.Errorf("refs/heads lists %d entries, want %d ending with zz-new", len(ents), refs+2)
	}
}

// TestForgottenListing abandons a listing, makes the kernel forget the
// directory (drop_caches), then forces the kept handle out: releasing it
// must not meet a node go-fuse has dropped.
func TestForgottenListing(t *testing.T) {
	repotest.RequireOstree(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop the kernel's caches")
	}
	old := maxListings
	maxListings = 1
	t.Cleanup(func() { maxListings = old })
	repoPath := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, repoPath, "bare-user")
	src := t.TempDir()
	var entries []repotest.Entry
	for d := range 2 {
		for i := range 300 {
			entries = append(entries, repotest.Entry{Path: fmt.Sprintf("d%d/a-long-enough-name-for-several-requests-%04d", d, i), Kind: repotest.File, Data: []byte{byte(i)}})
		}
	}
	repotest.WriteTree(t, src, entries)
	c := repotest.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	m, mp := testMount(t, repoPath)
	abandon := func(dir string) {
		t.Helper()
		f, err := os.Open(filepath.Join(mp, "commits", c, dir))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.ReadDir(10); err != nil {
			t.Fatal(err)
		}
	}
	abandon("d0")
	for deadline := time.Now().Add(10 * time.Second); m.Requests()["FORGET"] == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Skip("the kernel forgot nothing after drop_caches")
		}
		os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0)
	}
	abandon("d1") // evicts d0's kept listing, if it were still kept
	if ents, err := os.ReadDir(filepath.Join(mp, "commits", c, "d0")); err != nil || len(ents) != 300 {
		t.Errorf("d0 after the kernel forgot it: %d entries, %v", len(ents), err)
	}
}

// TestUnlabeled: an object without a security.selinux xattr answers its
// getxattr with EOPNOTSUPP, after which ls -l stops asking the mount for
// labels, so a warm ls -lR costs no round trip per file; a labeled object
// still shows its label, and other missing names are still ENODATA.
func TestUnlabeled(t *testing.T) {
	repotest.RequireOstree(t)
	lsPath, err := exec.LookPath("ls")
	if err != nil {
		t.Skip("no ls in $PATH")
	}
	var entries []repotest.Entry
	for i := range 30 {
		entries = append(entries, repotest.Entry{Path: fmt.Sprintf("d%d/f%02d", i%3, i), Kind: repotest.File, Data: []byte(fmt.Sprint(i))})
	}
	const label = "system_u:object_r:etc_t:s0"
	entries[0].Xattrs = map[string]string{selinuxXattr: label + "\x00", "user.k": "v"}
	repoPath, c := repotest.NewRepo(t, "bare-user", entries)
	m, mp := testMount(t, repoPath)
	root := filepath.Join(mp, "commits", c)

	v := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(root, "d0/f00"), selinuxXattr, v); err != nil || string(v[:n]) != label+"\x00" {
		t.Errorf("getxattr %s of a labeled file: %q %v", selinuxXattr, v[:n], err)
	}
	for _, p := range []string{"d1/f01", "d1", "", "../.."} {
		if _, err := unix.Lgetxattr(filepath.Join(root, p), selinuxXattr, v); err != unix.EOPNOTSUPP {
			t.Errorf("getxattr %s of unlabeled %q: %v, want EOPNOTSUPP", selinuxXattr, p, err)
		}
	}
	if _, err := unix.Lgetxattr(filepath.Join(root, "d1/f01"), "user.none", v); err != unix.ENODATA {
		t.Errorf("getxattr of a missing name: %v, want ENODATA", err)
	}
	ls := func() {
		t.Helper()
		out, err := exec.Command(lsPath, "-lR", root).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "f29") {
			t.Fatalf("ls -lR: %v\n%s", err, out)
		}
	}
	ls()
	first := m.Requests()["GETXATTR"]
	ls()
	if n := m.Requests()["GETXATTR"] - first; n > 1 {
		t.Errorf("a second ls -lR of 33 entries sent %d GETXATTR requests, want at most 1", n)
	}
}
