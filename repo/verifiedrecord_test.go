package repo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/tmpdir"
)

// checkoutTo checks commit c out to a new directory, as a user or not.
func checkoutTo(r *Repo, c Checksum, user bool, dest string) error {
	commit, err := r.ReadCommit(c)
	if err != nil {
		return err
	}
	return r.Checkout(context.Background(), RootNode(commit), dest, CheckoutOptions{User: user})
}

// contentAt returns the checksum of the file at rel in commit c.
func contentAt(t *testing.T, r *Repo, c Checksum, rel string) Checksum {
	t.Helper()
	commit, err := r.ReadCommit(c)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Lookup(RootNode(commit), rel)
	if err != nil {
		t.Fatal(err)
	}
	return n.Content
}

// recorded reports whether the repository's record vouches for the file
// of content at rel in the commit, of kind k.
func recorded(t *testing.T, r *Repo, c Checksum, rel string, k vrKind) bool {
	t.Helper()
	_, ok := r.openVerifiedRecord().lookup(contentAt(t, r, c, rel), k)
	return ok
}

// ageFile sets p's mtime an hour back, past the record's racy window,
// as time would.
func ageFile(t *testing.T, p string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

// rewriteKeepingMtime writes b over p in place and sets its mtime back:
// the one change the record cannot see.
func rewriteKeepingMtime(t *testing.T, p string, b []byte) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0); err != nil {
		t.Fatal(err)
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
}

// TestVerifiedRecordBare: a bare checkout records the objects it hashed
// and hardlinked; the next one links them unread while they look the
// same, and hashes again, failing, any whose write, chmod or xattr
// change shows.
func TestVerifiedRecordBare(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, p string) // p: a hardlink of the object
	}{
		{"write", func(t *testing.T, p string) { writeFile(t, p, []byte("HELLO\n")) }},
		{"chmod", func(t *testing.T, p string) { os.Chmod(p, 0o600) }},
		{"xattr", func(t *testing.T, p string) {
			if err := unix.Lsetxattr(p, "user.planted", []byte("x"), 0); err != nil {
				t.Skipf("no user xattrs here: %v", err)
			}
		}},
		{"replaced", func(t *testing.T, p string) {
			// The object itself: a new inode with the same bytes is
			// hashed again, and passes.
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			writeTestTree(t, src, 1)
			r := initRepo(t, ModeBare)
			c := commitDir(t, r, "main", src)
			first := filepath.Join(t.TempDir(), "co")
			if err := checkoutTo(r, c, false, first); err != nil {
				t.Fatal(err)
			}
			if !recorded(t, r, c, "hello.txt", vrObject) || !recorded(t, r, c, "sub/deeper/data.bin", vrObject) {
				t.Fatal("the checkout did not record the objects it verified")
			}
			if recorded(t, r, c, "empty", vrObject) {
				t.Error("an empty file, copied, was recorded")
			}
			if tc.name == "replaced" {
				commit, _ := r.ReadCommit(c)
				n, _ := r.Lookup(RootNode(commit), "hello.txt")
				obj := r.objectPath(n.Content, ObjFile)
				b, _ := os.ReadFile(obj)
				var st unix.Stat_t
				unix.Lstat(obj, &st)
				os.Remove(obj)
				writeFile(t, obj, b)
				os.Chmod(obj, os.FileMode(st.Mode&0o777))
				unix.UtimesNanoAt(unix.AT_FDCWD, obj, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
				second := filepath.Join(t.TempDir(), "co")
				if err := checkoutTo(r, c, false, second); err != nil {
					t.Fatalf("a replaced but intact object: %v", err)
				}
				if inode(t, filepath.Join(second, "hello.txt")) != inode(t, obj) {
					t.Error("the replaced object was not linked")
				}
				return
			}
			tc.tamper(t, filepath.Join(first, "hello.txt"))
			err := checkoutTo(r, c, false, filepath.Join(t.TempDir(), "co"))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("checkout after a %s through a checkout: %v, want ErrCorrupt", tc.name, err)
			}
			if recorded(t, r, c, "hello.txt", vrObject) {
				t.Error("the tampered object is still recorded")
			}
		})
	}
}

// TestVerifiedRecordFsck: what the record cannot see (a same-sized write
// whose mtime is set back) fsck finds, and drops from the record, so the
// next checkout hashes the object again and fails.
func TestVerifiedRecordFsck(t *testing.T) {
	src := t.TempDir()
	writeTestTree(t, src, 1)
	r := initRepo(t, ModeBare)
	c := commitDir(t, r, "main", src)
	first := filepath.Join(t.TempDir(), "co")
	if err := checkoutTo(r, c, false, first); err != nil {
		t.Fatal(err)
	}
	rewriteKeepingMtime(t, filepath.Join(first, "hello.txt"), []byte("HELLO\n"))
	// The record vouches for it: linked unread (the limit it documents).
	if err := checkoutTo(r, c, false, filepath.Join(t.TempDir(), "co")); err != nil {
		t.Fatalf("the record was not used: %v", err)
	}
	rep, err := r.Fsck(context.Background(), FsckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 {
		t.Fatalf("fsck found %v, want the one tampered object", rep.Problems)
	}
	if recorded(t, r, c, "hello.txt", vrObject) {
		t.Error("fsck left the corrupt object in the record")
	}
	if !recorded(t, r, c, "sub/run.sh", vrObject) {
		t.Error("fsck dropped an intact object from the record")
	}
	if err := checkoutTo(r, c, false, filepath.Join(t.TempDir(), "co")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("checkout after fsck: %v, want ErrCorrupt", err)
	}
}

// TestVerifiedRecordCache: a cache entry is recorded once a checkout has
// hashed it (and it is past the racy window), linked unread afterwards,
// and hashed again, and replaced, once a write through a checkout shows.
func TestVerifiedRecordCache(t *testing.T) {
	r, c, root, want := archiveTestCommit(t)
	entry := entryFor(t, r, root, "hello.txt")

	first := checkoutU(t, r, c, CheckoutOptions{})
	if recorded(t, r, c, "hello.txt", vrCacheEntry) {
		t.Fatal("a new entry, inside the racy window, was recorded")
	}
	publishNow(t, r)
	ageFile(t, entry)
	second := checkoutU(t, r, c, CheckoutOptions{})
	if !recorded(t, r, c, "hello.txt", vrCacheEntry) {
		t.Fatal("an entry hashed by a checkout was not recorded")
	}
	third := checkoutU(t, r, c, CheckoutOptions{})
	if inode(t, filepath.Join(third, "hello.txt")) != inode(t, entry) {
		t.Fatal("a recorded entry was not linked")
	}
	_ = first
	// A write through a checkout: the entry changes, and its mtime.
	writeFile(t, filepath.Join(second, "hello.txt"), []byte("HELLO\n"))
	fourth := checkoutU(t, r, c, CheckoutOptions{})
	if got := listTree(t, fourth); !slices.Equal(got, want) {
		t.Errorf("checkout after a write into the entry:\n%v\nwant\n%v", got, want)
	}
	publishNow(t, r) // the replacement
	if b, _ := os.ReadFile(entry); !bytes.Equal(b, []byte("hello\n")) {
		t.Errorf("the corrupt entry was not replaced: %q", b)
	}
}

// TestVerifiedRecordArchive: a checkout from an archive repository
// records each .filez it inflated and hashed to its checksum (past the
// racy window), with the cache or without; the next one decodes them
// without hashing (so a rewrite that keeps size and mtime, the record's
// documented blind spot, goes through: that is how the test sees the
// hashing skipped), and one whose rewrite shows in its mtime is hashed
// again, fails the checkout and leaves the record.
func TestVerifiedRecordArchive(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    CheckoutOptions
	}{
		{"cache", CheckoutOptions{User: true}},
		{"nocache", CheckoutOptions{User: true, DisableCache: true}},
		{"owners", CheckoutOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, other := t.TempDir(), t.TempDir()
			writeTestTree(t, src, 1)
			writeFile(t, filepath.Join(other, "hello.txt"), []byte("HELLO\n"))
			r := initRepo(t, ModeArchive)
			c := commitDir(t, r, "main", src)
			o := commitDir(t, r, "other", other)
			filez := func(c Checksum, rel string) string {
				return r.objectPath(contentAt(t, r, c, rel), ObjFile)
			}
			hello := filez(c, "hello.txt")
			for _, rel := range []string{"hello.txt", "sub/run.sh", "sub/deeper/data.bin", "link"} {
				ageFile(t, filez(c, rel))
			}
			commit, _ := r.ReadCommit(c)
			co := func() (string, error) {
				os.RemoveAll(filepath.Join(r.Path(), uncompressedCacheDir))
				if _, err := tmpdir.RemoveUnlocked(context.Background(), filepath.Join(r.Path(), "tmp")); err != nil {
					t.Fatal(err)
				}
				dest := filepath.Join(t.TempDir(), "co")
				return dest, r.Checkout(context.Background(), RootNode(commit), dest, tc.o)
			}
			if _, err := co(); err != nil {
				t.Fatal(err)
			}
			for _, rel := range []string{"hello.txt", "sub/deeper/data.bin", "link"} {
				if !recorded(t, r, c, rel, vrArchive) {
					t.Errorf("%s: inflated and hashed, not recorded", rel)
				}
			}
			upper := readFile(t, filez(o, "hello.txt"))
			if len(upper) != len(readFile(t, hello)) {
				t.Fatalf("the two .filez differ in size (%d, %d): the test needs them equal", len(upper), len(readFile(t, hello)))
			}
			rewriteKeepingMtime(t, hello, upper)
			dest, err := co()
			if err != nil {
				t.Fatalf("checkout of recorded objects: %v", err)
			}
			if got := readFile(t, filepath.Join(dest, "hello.txt")); string(got) != "HELLO\n" {
				t.Errorf("the recorded .filez was hashed again: hello.txt is %q", got)
			}
			writeFile(t, hello, upper) // a new mtime
			if _, err := co(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("checkout of a rewritten .filez: %v, want ErrCorrupt", err)
			}
			if recorded(t, r, c, "hello.txt", vrArchive) {
				t.Error("the corrupt .filez stayed in the record")
			}
			if !recorded(t, r, c, "sub/deeper/data.bin", vrArchive) {
				t.Error("an intact .filez left the record")
			}
		})
	}
}

// TestVerifiedRecordPrune: prune drops the entries of the objects it
// deletes.
func TestVerifiedRecordPrune(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeTestTree(t, src, 1)
	r := initRepo(t, ModeBare)
	c := commitDir(t, r, "main", src)
	if err := checkoutTo(r, c, false, filepath.Join(t.TempDir(), "co")); err != nil {
		t.Fatal(err)
	}
	if !recorded(t, r, c, "hello.txt", vrObject) {
		t.Fatal("not recorded")
	}
	commit, _ := r.ReadCommit(c)
	n, _ := r.Lookup(RootNode(commit), "hello.txt")
	if err := r.DeleteRefImmediate(ctx, "", "main"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Prune(ctx, PruneOptions{RefsOnly: true, Depth: -1}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.openVerifiedRecord().lookup(n.Content, vrObject); ok {
		t.Error("prune left the entry of a deleted object")
	}
}

// TestVerifiedRecordDamaged: a torn or damaged record reads as empty.
func TestVerifiedRecordDamaged(t *testing.T) {
	src := t.TempDir()
	writeTestTree(t, src, 1)
	r := initRepo(t, ModeBare)
	c := commitDir(t, r, "main", src)
	if err := checkoutTo(r, c, false, filepath.Join(t.TempDir(), "co")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(r.Path(), verifiedRecordName)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"torn", b[:len(b)-7]},
		{"flipped", func() []byte { c := clone(b); c[vrHeaderLen+40] ^= 1; return c }()},
		{"empty", nil},
		{"count", func() []byte { c := clone(b); c[len(vrMagic)]++; return c }()},
	} {
		if _, ok := vrParse(tc.b); ok {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, ok := vrParse(b); !ok {
		t.Error("the record as written does not parse")
	}
}

// TestFsckFillsVerifiedRecord: fsck records the objects it hashed right
// (regular, non-empty, past the racy window) where checkouts link
// objects, so that the next checkout links them unread; it records no
// object it found corrupt, and nothing in an archive repository.
func TestFsckFillsVerifiedRecord(t *testing.T) {
	for _, m := range []Mode{ModeBare, ModeBareUser, ModeArchive} {
		t.Run(m.String(), func(t *testing.T) {
			src := t.TempDir()
			writeTestTree(t, src, 1)
			r := initRepo(t, m)
			c := commitDir(t, r, "main", src)
			commit, _ := r.ReadCommit(c)
			obj := func(rel string) string {
				return r.objectPath(contentAt(t, r, c, rel), ObjFile)
			}
			for _, rel := range []string{"hello.txt", "sub/run.sh", "sub/deeper/data.bin"} {
				ageFile(t, obj(rel))
			}
			if m != ModeArchive {
				rewriteKeepingMtime(t, obj("sub/run.sh"), []byte("#!/bin/sh\necho HI\n"))
			}
			rep, err := r.Fsck(context.Background(), FsckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := m != ModeArchive
			if got := recorded(t, r, c, "hello.txt", vrObject); got != want {
				t.Errorf("hello.txt recorded: %v, want %v", got, want)
			}
			if recorded(t, r, c, "empty", vrObject) {
				t.Error("an empty file, never linked, was recorded")
			}
			if m == ModeArchive {
				return
			}
			if len(rep.Problems) != 1 || recorded(t, r, c, "sub/run.sh", vrObject) {
				t.Errorf("fsck found %v and recorded the corrupt object: %v", rep.Problems, recorded(t, r, c, "sub/run.sh", vrObject))
			}
			// Recorded, hence linked unread: a change the record cannot
			// see (its documented limit) goes through.
			rewriteKeepingMtime(t, obj("hello.txt"), []byte("HELLO\n"))
			dest := filepath.Join(t.TempDir(), "co")
			commitNode, _ := r.Lookup(RootNode(commit), "hello.txt")
			if err := r.Checkout(context.Background(), commitNode, dest, CheckoutOptions{User: m == ModeBareUser}); err != nil {
				t.Fatalf("checkout of an object fsck recorded: %v", err)
			}
			if got := readFile(t, filepath.Join(dest, "hello.txt")); string(got) != "HELLO\n" {
				t.Errorf("the object was not linked unread: %q", got)
			}
		})
	}
}

// TestVrFind: the binary search finds every entry of a record, of either
// kind, among keys sharing their first eight bytes or not, and nothing
// else.
func TestVrFind(t *testing.T) {
	var keys []vrKey
	for i := range 200 {
		var c Checksum
		c[0], c[1] = byte(i*37), byte(i)
		if i%3 == 0 {
			c[0], c[1] = 7, 7 // shared first eight bytes: the full compare decides
			c[20] = byte(i)
		}
		keys = append(keys, vrKey{c, vrObject}, vrKey{c, vrArchive})
	}
	slices.SortFunc(keys, func(a, b vrKey) int { return bytes.Compare(vrEncodeKey(a), vrEncodeKey(b)) })
	var data []byte
	for i, k := range keys {
		data = append(data, vrEncode(k, vrStat{ino: uint64(i) + 1})...)
	}
	for i, k := range keys {
		s, ok := vrFind(data, k)
		if !ok || s.ino != uint64(i)+1 {
			t.Errorf("key %d (%x kind %d): found %v, inode %d", i, k.c[:2], k.k, ok, s.ino)
		}
		if _, ok := vrFind(data, vrKey{k.c, vrCacheEntry}); ok {
			t.Errorf("key %d: found as a cache entry, never recorded", i)
		}
		other := k.c
		other[31]++
		if _, ok := vrFind(data, vrKey{other, k.k}); ok && !slices.Contains(keys, vrKey{other, k.k}) {
			t.Errorf("key %d: found a checksum never recorded", i)
		}
	}
	if _, ok := vrFind(nil, keys[0]); ok {
		t.Error("found in an empty record")
	}
}
