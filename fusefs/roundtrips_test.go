package fusefs

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// TestRoundTrips pins the request counts the mount's speed rests on:
// opening, closing and listing cost no round trip after the first, and a
// file read once is read again from the kernel's cache.
func TestRoundTrips(t *testing.T) {
	for _, mode := range []string{"archive", "bare-user"} {
		t.Run(mode, func(t *testing.T) {
			repoPath := filepath.Join(t.TempDir(), "repo")
			testrepo.Init(t, repoPath, mode)
			src := t.TempDir()
			var entries []repotest.Entry
			for i := range 20 {
				entries = append(entries, repotest.Entry{Path: fmt.Sprintf("d%d/f%d", i%4, i), Kind: repotest.File, Data: []byte(fmt.Sprint(i))})
			}
			entries[0].Xattrs = map[string]string{"user.k": "v"}
			repotest.WriteTree(t, src, entries)
			c := testrepo.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
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
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "bare-user")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{
		{Path: "a", Kind: repotest.File, Data: []byte("a"), Xattrs: map[string]string{"user.k": "v"}},
		{Path: "b", Kind: repotest.File, Data: []byte("b")},
	})
	c := testrepo.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
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
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "bare-user")
	src := t.TempDir()
	const dirs, files = 4, 1500
	var entries []repotest.Entry
	for d := range dirs {
		for i := range files {
			entries = append(entries, repotest.Entry{Path: fmt.Sprintf("d%d/a-rather-long-file-name-to-fill-the-buffers-%05d", d, i), Kind: repotest.File, Data: []byte{byte(i)}})
		}
	}
	repotest.WriteTree(t, src, entries)
	c := testrepo.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
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

// TestForgottenListing abandons a listing, makes the kernel forget the
// directory (drop_caches), then forces the kept handle out: releasing it
// must not meet a node go-fuse has dropped.
func TestForgottenListing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop the kernel's caches")
	}
	old := maxListings
	maxListings = 1
	t.Cleanup(func() { maxListings = old })
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "bare-user")
	src := t.TempDir()
	var entries []repotest.Entry
	for d := range 2 {
		for i := range 300 {
			entries = append(entries, repotest.Entry{Path: fmt.Sprintf("d%d/a-long-enough-name-for-several-requests-%04d", d, i), Kind: repotest.File, Data: []byte{byte(i)}})
		}
	}
	repotest.WriteTree(t, src, entries)
	c := testrepo.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
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

// TestUnsupportedXattrs: an object without a security.selinux xattr, or
// without ACLs, answers their getxattr with EOPNOTSUPP, after which ls -l
// stops asking the mount for them, so an ls -lR, cold or warm, costs no
// round trip per file; an object that has them still shows them, and
// other missing names are still ENODATA.
func TestUnsupportedXattrs(t *testing.T) {
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
	entries[1].Mode, entries[1].Xattrs = 0o640, map[string]string{aclXattrs[0]: aclReadBy(aclUser)}
	repoPath, c := testrepo.NewRepo(t, "bare-user", entries)
	m, mp := testMount(t, repoPath)
	root := filepath.Join(mp, "commits", c)

	v := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(root, "d0/f00"), selinuxXattr, v); err != nil || string(v[:n]) != label+"\x00" {
		t.Errorf("getxattr %s of a labeled file: %q %v", selinuxXattr, v[:n], err)
	}
	// The ACL as the commit recorded it (the writer stores, as ostree
	// does, what the kernel gave it: the kernel's own encoding).
	r, d1 := commitTree(t, repoPath, c, "d1")
	i, _ := findFile(d1.Files, "f01")
	fi, err := r.StatFile(d1.Files[i].Content)
	if err != nil {
		t.Fatal(err)
	}
	var acl string
	for _, x := range fi.Xattrs {
		if x.Name == aclXattrs[0] {
			acl = string(x.Value)
		}
	}
	if acl == "" {
		t.Fatalf("the commit recorded no %s for d1/f01: %v", aclXattrs[0], fi.Xattrs)
	}
	if n, err := unix.Lgetxattr(filepath.Join(root, "d1/f01"), aclXattrs[0], v); err != nil || string(v[:n]) != acl {
		t.Errorf("getxattr %s of a file with an ACL: %x %v, want %x", aclXattrs[0], v[:n], err, acl)
	}
	for _, p := range []string{"d1/f04", "d1", "", "../.."} {
		for _, name := range append([]string{selinuxXattr}, aclXattrs...) {
			if name == aclXattrs[1] && p == "d1/f04" {
				continue // not asked of files: EACCES
			}
			if _, err := unix.Lgetxattr(filepath.Join(root, p), name, v); err != unix.EOPNOTSUPP {
				t.Errorf("getxattr %s of %q, which has none: %v, want EOPNOTSUPP", name, p, err)
			}
		}
	}
	if _, err := unix.Lgetxattr(filepath.Join(root, "d1/f01"), "user.none", v); err != unix.ENODATA {
		t.Errorf("getxattr of a missing name: %v, want ENODATA", err)
	}
	for i := range 2 {
		before := m.Requests()["GETXATTR"]
		out, err := exec.Command(lsPath, "-lR", root).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "f29") {
			t.Fatalf("ls -lR: %v\n%s", err, out)
		}
		// One ask for a label, one for an ACL, then no more.
		if n := m.Requests()["GETXATTR"] - before; n > 2 {
			t.Errorf("ls -lR %d of 33 entries sent %d GETXATTR requests, want at most 2", i+1, n)
		}
	}
}

// aclUser is the user the ACLs of the tests grant access to.
const aclUser = 4321

// aclReadBy is the system.posix_acl_access value of an ACL that grants
// read to the owner, the owning group and user uid, and nothing to others.
func aclReadBy(uid uint32) string {
	var b []byte
	entry := func(tag, perm uint16, id uint32) {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, perm)
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	b = binary.LittleEndian.AppendUint32(b, 2) // the format's version
	const undefined = ^uint32(0)
	entry(0x01, 6, undefined) // owner rw
	entry(0x02, 4, uid)       // user uid r
	entry(0x04, 4, undefined) // owning group r
	entry(0x10, 4, undefined) // mask r
	entry(0x20, 0, undefined) // others none
	return string(b)
}

// TestACLsEnforcedForOthers: a mount others may use (--allow-other) has
// the kernel enforce the objects' ACLs, so a user an ACL names reads a
// file its mode alone would refuse, and one it does not name is refused.
func TestACLsEnforcedForOthers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: reading as another user needs root")
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("no cat in $PATH")
	}
	entries := []repotest.Entry{
		{Path: "acl", Kind: repotest.File, Data: []byte("named"), Mode: 0o640, Xattrs: map[string]string{aclXattrs[0]: aclReadBy(aclUser)}},
		{Path: "plain", Kind: repotest.File, Data: []byte("owner only"), Mode: 0o640},
	}
	repoPath, c := testrepo.NewRepo(t, "bare-user", entries)
	_, mp := testMountWith(t, repoPath, MountOptions{AllowOther: true})
	root := filepath.Join(mp, "commits", c)
	// t.TempDir makes 0700 directories, which the other users cannot pass.
	for d := filepath.Dir(mp); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(root); err != nil || st.Mode().Perm()&0o005 != 0o005 {
		t.Fatalf("the commit's root must be open to others for this test: %v %v", st.Mode(), err)
	}
	readAs := func(uid uint32, name string) (string, error) {
		cmd := exec.Command(cat, filepath.Join(root, name))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := readAs(aclUser, "acl"); err != nil || out != "named" {
		t.Errorf("user %d, named by the ACL, reads acl: %q %v", aclUser, out, err)
	}
	if out, err := readAs(aclUser, "plain"); err == nil {
		t.Errorf("user %d reads a 0640 root file without an ACL: %q", aclUser, out)
	}
	if out, err := readAs(aclUser+1, "acl"); err == nil {
		t.Errorf("user %d, not named by the ACL, reads acl: %q", aclUser+1, out)
	}
	// ACLs are supported here: a file without one has none (ENODATA).
	v := make([]byte, 64)
	if _, err := unix.Lgetxattr(filepath.Join(root, "plain"), aclXattrs[0], v); err != unix.ENODATA {
		t.Errorf("getxattr %s of a file without an ACL: %v, want ENODATA", aclXattrs[0], err)
	}
}
