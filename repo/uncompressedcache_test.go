package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/repofs/repofs/tmpdir"
)

// inode returns p's inode number.
func inode(t *testing.T, p string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// checkoutU checks out the commit of ref main as a user, with the cache.
func checkoutU(t *testing.T, r *Repo, c Checksum, o CheckoutOptions) string {
	t.Helper()
	commit, err := r.ReadCommit(c)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "co")
	o.User = true
	if err := r.Checkout(context.Background(), RootNode(commit), dest, o); err != nil {
		t.Fatal(err)
	}
	return dest
}

// entryFor is the cache entry of the file at rel in a checkout of src.
func entryFor(t *testing.T, r *Repo, root Node, rel string) string {
	t.Helper()
	n, err := r.Lookup(root, rel)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(r.Path(), uncompressedCacheDir, entryName(n.Content))
}

// publishNow publishes what checkouts left pending, as the next -U
// checkout does first, and returns how many entries went in.
func publishNow(t *testing.T, r *Repo) int {
	t.Helper()
	n, err := r.publishPending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// pendingAreas lists the pending areas in r's tmp/.
func pendingAreas(t *testing.T, r *Repo) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(r.Path(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), string(tmpdir.Pending)+"-") {
			ps = append(ps, filepath.Join(r.Path(), "tmp", e.Name()))
		}
	}
	return ps
}

// TestUncompressedCache: a -U checkout from an archive repository leaves
// its own files pending for the cache, the next one publishes them and
// hardlinks them, and a corrupted entry is never linked: it is replaced.
func TestUncompressedCache(t *testing.T) {
	src := t.TempDir()
	writeTestTree(t, src, 1)
	writeFile(t, filepath.Join(src, "sub/same-as-hello"), []byte("hello\n"))
	want := listTree(t, src)
	r := initRepo(t, ModeArchive)
	c := commitDir(t, r, "main", src)
	commit, _ := r.ReadCommit(c)
	root := RootNode(commit)

	first := checkoutU(t, r, c, CheckoutOptions{})
	assertNoTmpLeft(t, r)
	if _, err := os.Lstat(entryFor(t, r, root, "hello.txt")); err == nil {
		t.Error("a checkout's new entry is in the cache before the next checkout")
	}
	if ps := pendingAreas(t, r); len(ps) != 1 {
		t.Fatalf("pending areas after a checkout: %v, want one", ps)
	}
	second := checkoutU(t, r, c, CheckoutOptions{})
	if ps := pendingAreas(t, r); len(ps) != 0 {
		t.Errorf("pending areas after the next checkout: %v, want none", ps)
	}
	for _, rel := range []string{"hello.txt", "sub/run.sh", "sub/deeper/data.bin"} {
		e := entryFor(t, r, root, rel)
		if inode(t, e) != inode(t, filepath.Join(first, rel)) {
			t.Errorf("%s: the checkout's file is not the cache entry %s", rel, e)
		}
		st, err := os.Lstat(e)
		if err != nil {
			t.Fatal(err)
		}
		src, _ := os.Lstat(filepath.Join(src, rel))
		if st.Mode() != src.Mode() {
			t.Errorf("%s: entry mode %v, want %v", rel, st.Mode(), src.Mode())
		}
	}
	if inode(t, filepath.Join(first, "sub/same-as-hello")) != inode(t, filepath.Join(first, "hello.txt")) {
		t.Error("two files of one content are not one cache entry, as in ostree's checkout")
	}
	if _, err := os.Lstat(entryFor(t, r, root, "empty")); err == nil {
		t.Error("an empty file went into the cache; ostree copies them")
	}
	if got := listTree(t, second); !slices.Equal(got, want) {
		t.Errorf("cached checkout differs from the source:\n%s", strings.Join(got, "\n"))
	}
	if inode(t, filepath.Join(second, "hello.txt")) != inode(t, filepath.Join(first, "hello.txt")) {
		t.Error("the second checkout did not hardlink the cache entry")
	}

	// A write into a checkout's file is a write into the entry.
	if err := os.WriteFile(filepath.Join(first, "hello.txt"), []byte("HELLO\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := inode(t, filepath.Join(first, "hello.txt"))
	third := checkoutU(t, r, c, CheckoutOptions{})
	if got := listTree(t, third); !slices.Equal(got, want) {
		t.Errorf("checkout over a corrupt entry differs from the source:\n%s", strings.Join(got, "\n"))
	}
	if inode(t, filepath.Join(third, "hello.txt")) == bad {
		t.Error("the corrupt cache entry was hardlinked into a checkout")
	}
	if n := publishNow(t, r); n != 1 {
		t.Errorf("published %d entries after the checkout over a corrupt one, want its replacement", n)
	}
	e := entryFor(t, r, root, "hello.txt")
	if got := readFile(t, e); string(got) != "hello\n" || inode(t, e) != inode(t, filepath.Join(third, "hello.txt")) {
		t.Errorf("the corrupt entry was not replaced by the new file: %q", got)
	}

	// A wrong mode (chmod through a checkout) is as bad as wrong bytes.
	os.Chmod(filepath.Join(third, "sub/run.sh"), 0o777)
	fourth := checkoutU(t, r, c, CheckoutOptions{})
	if got := listTree(t, fourth); !slices.Equal(got, want) {
		t.Errorf("checkout over an entry of the wrong mode differs from the source:\n%s", strings.Join(got, "\n"))
	}
}

// TestUncompressedCacheDisabled: --disable-cache, core.enable-uncompressed-cache=false
// and a non-user checkout neither read nor write the cache.
func TestUncompressedCacheDisabled(t *testing.T) {
	src := t.TempDir()
	writeTestTree(t, src, 1)
	for _, tc := range []struct {
		name   string
		config string
		o      CheckoutOptions
	}{
		{"disable-cache", "", CheckoutOptions{DisableCache: true}},
		{"config", "enable-uncompressed-cache=false\n", CheckoutOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := initRepo(t, ModeArchive)
			r = withCoreConfig(t, r, tc.config)
			c := commitDir(t, r, "main", src)
			co := checkoutU(t, r, c, tc.o)
			if _, err := os.Stat(filepath.Join(r.Path(), uncompressedCacheDir)); err == nil {
				t.Error("the cache was created")
			}
			var st syscall.Stat_t
			syscall.Lstat(filepath.Join(co, "hello.txt"), &st)
			if st.Nlink != 1 {
				t.Errorf("hello.txt has %d links, want 1", st.Nlink)
			}
		})
	}
}

// TestDropStaleUncompressed: entries whose object is gone are dropped,
// the others kept.
func TestDropStaleUncompressed(t *testing.T) {
	r, c, root, _ := archiveTestCommit(t)
	checkoutU(t, r, c, CheckoutOptions{})
	gone, kept := entryFor(t, r, root, "hello.txt"), entryFor(t, r, root, "sub/run.sh")
	n, _ := r.Lookup(root, "hello.txt")
	if err := os.Remove(r.objectPath(n.Content, ObjFile)); err != nil {
		t.Fatal(err)
	}
	dropped, err := r.DropStaleUncompressed(context.Background())
	if err != nil || dropped != 1 {
		t.Fatalf("DropStaleUncompressed = %d, %v; want 1 entry", dropped, err)
	}
	if _, err := os.Lstat(gone); err == nil {
		t.Error("the entry of a removed object is still there")
	}
	if _, err := os.Lstat(kept); err != nil {
		t.Errorf("the entry of a present object went: %v", err)
	}
}

// TestPruneDropsStaleUncompressed: a prune that deletes a commit's objects
// takes their cache entries with them, pending ones too, and leaves
// those of kept objects, publishing the pending ones.
func TestPruneDropsStaleUncompressed(t *testing.T) {
	src := t.TempDir()
	writeTestTree(t, src, 1)
	r := initRepo(t, ModeArchive)
	old := commitDir(t, r, "old", src)
	src2 := t.TempDir()
	writeTestTree(t, src2, 2)
	kept := commitDir(t, r, "main", src2)
	checkoutU(t, r, old, CheckoutOptions{})
	publishNow(t, r)
	// An object only "both" has, and v2: both entries pending.
	both := t.TempDir()
	writeFile(t, filepath.Join(both, "only"), []byte("only in both\n"))
	writeFile(t, filepath.Join(both, "v2"), []byte("variant 2\n"))
	bc := commitDir(t, r, "both", both)
	bothCommit, _ := r.ReadCommit(bc)
	checkoutU(t, r, bc, CheckoutOptions{})
	oldCommit, _ := r.ReadCommit(old)
	keptCommit, _ := r.ReadCommit(kept)
	gone := entryFor(t, r, RootNode(oldCommit), "v1")
	gonePending := entryFor(t, r, RootNode(bothCommit), "only")
	stays := entryFor(t, r, RootNode(keptCommit), "hello.txt")
	staysPending := entryFor(t, r, RootNode(keptCommit), "v2")
	for _, e := range []string{gone, stays} {
		if _, err := os.Lstat(e); err != nil {
			t.Fatalf("no cache entry: %v", err)
		}
	}
	if len(pendingAreas(t, r)) != 1 {
		t.Fatalf("pending areas %v, want one", pendingAreas(t, r))
	}
	for _, e := range []string{gonePending, staysPending} {
		if _, err := os.Lstat(e); err == nil {
			t.Fatalf("%s is in the cache, not pending", e)
		}
	}
	for _, ref := range []string{"old", "both"} {
		if err := r.DeleteRefImmediate(context.Background(), "", ref); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Prune(context.Background(), PruneOptions{RefsOnly: true}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{gone, gonePending} {
		if _, err := os.Lstat(e); err == nil {
			t.Errorf("the cache entry of a pruned object is there: %s", e)
		}
	}
	for _, e := range []string{stays, staysPending} {
		if _, err := os.Lstat(e); err != nil {
			t.Errorf("the cache entry of a kept object is not: %v", err)
		}
	}
	if ps := pendingAreas(t, r); len(ps) != 0 {
		t.Errorf("prune left pending areas: %v", ps)
	}
}

// TestUncompressedCacheCorruptObject: a -U checkout from an archive
// repository fails on an object whose payload does not hash to its
// checksum, and adds no entry for it, whether the object is read whole
// at once (no entry can exist: its XX directory is missing) or after its
// header (the entry is looked for first), and with the cache disabled
// (the object read through OpenFile, its small payload verified whole
// before it is written).
func TestUncompressedCacheCorruptObject(t *testing.T) {
	for _, tc := range []struct{ prefixExists, disable bool }{{false, false}, {true, false}, {false, true}} {
		prefixExists := tc.prefixExists
		t.Run(fmt.Sprintf("prefix=%v/disabled=%v", prefixExists, tc.disable), func(t *testing.T) {
			src := t.TempDir()
			writeTestTree(t, src, 1)
			r := initRepo(t, ModeArchive)
			c := commitDir(t, r, "main", src)
			commit, _ := r.ReadCommit(c)
			n, err := r.Lookup(RootNode(commit), "sub/deeper/data.bin")
			if err != nil {
				t.Fatal(err)
			}
			// Another object of the same size and mode in its place: a
			// well-formed .filez whose payload hashes to something else.
			other := t.TempDir()
			data := readFile(t, filepath.Join(src, "sub/deeper/data.bin"))
			data[0] ^= 0xff
			writeFile(t, filepath.Join(other, "data.bin"), data)
			oc, _ := r.ReadCommit(commitDir(t, r, "other", other))
			on, err := r.Lookup(RootNode(oc), "data.bin")
			if err != nil {
				t.Fatal(err)
			}
			p := r.objectPath(n.Content, ObjFile)
			if err := os.Rename(r.objectPath(on.Content, ObjFile), p); err != nil {
				t.Fatal(err)
			}
			if prefixExists {
				if err := os.MkdirAll(filepath.Join(r.Path(), uncompressedCacheDir, n.Content.String()[:2]), 0o775); err != nil {
					t.Fatal(err)
				}
			}
			dest := filepath.Join(t.TempDir(), "co")
			err = r.Checkout(context.Background(), RootNode(commit), dest, CheckoutOptions{User: true, DisableCache: tc.disable})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("checkout of a corrupt object: %v, want ErrCorrupt", err)
			}
			if _, err := os.Lstat(filepath.Join(dest, "sub/deeper/data.bin")); err == nil {
				t.Error("the corrupt object's file is in the checkout")
			}
			if _, err := os.Lstat(entryFor(t, r, RootNode(commit), "sub/deeper/data.bin")); err == nil {
				t.Error("the corrupt object went into the cache")
			}
			// A failed checkout publishes none of the entries it staged.
			var entries []string
			filepath.WalkDir(filepath.Join(r.Path(), uncompressedCacheDir), func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					entries = append(entries, p)
				}
				return nil
			})
			if len(entries) != 0 {
				t.Errorf("a failed checkout published cache entries: %v", entries)
			}
			assertNoTmpLeft(t, r)
		})
	}
}

// TestUncompressedCachePendingLeftovers: what a killed checkout left
// pending (no manifest) is dropped unpublished, and a file in a pending
// area that its manifest does not list, whatever its bytes, stays out of
// the cache, though an empty cache's directories move in whole.
func TestUncompressedCachePendingLeftovers(t *testing.T) {
	r, c, root, _ := archiveTestCommit(t)
	n, err := r.Lookup(root, "hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	fake := n.Content
	fake[31] ^= 1
	bootID, err := tmpdir.BootID()
	if err != nil {
		t.Fatal(err)
	}
	killed, err := tmpdir.Allocate(context.Background(), filepath.Join(r.Path(), "tmp"), tmpdir.Pending, bootID)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(killed.Path, entryName(n.Content))
	if err := os.MkdirAll(filepath.Dir(p), 0o775); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, []byte("not verified\n"))
	if err := killed.Release(); err != nil {
		t.Fatal(err)
	}

	co := checkoutU(t, r, c, CheckoutOptions{})
	if _, err := os.Stat(killed.Path); err == nil {
		t.Fatalf("the killed checkout's area %s is still there", killed.Path)
	}
	if _, err := os.Lstat(entryFor(t, r, root, "hello.txt")); err == nil {
		t.Fatal("an entry of a killed checkout was published")
	}
	ps := pendingAreas(t, r)
	if len(ps) != 1 {
		t.Fatalf("pending areas %v, want the checkout's", ps)
	}
	// A stray file beside the checkout's hello.txt entry.
	writeFile(t, filepath.Join(ps[0], entryName(fake)), []byte("not verified\n"))
	if got := publishNow(t, r); got == 0 {
		t.Fatal("nothing published")
	}
	e := entryFor(t, r, root, "hello.txt")
	if inode(t, e) != inode(t, filepath.Join(co, "hello.txt")) {
		t.Errorf("hello.txt: the checkout's file is not the cache entry %s", e)
	}
	leftover := filepath.Join(r.Path(), uncompressedCacheDir, entryName(fake))
	if _, err := os.Lstat(leftover); err == nil {
		t.Errorf("a file the manifest does not list was published as %s", leftover)
	}
	if ps := pendingAreas(t, r); len(ps) != 0 {
		t.Errorf("pending areas left: %v", ps)
	}
	assertNoTmpLeft(t, r)
}

// TestUncompressedCacheEntryNotLinkable: where a new entry, written in
// the staging directory, cannot be linked into the checkout (another
// filesystem mounted in a union's tree), the checkout gets a copy and
// the entry still goes into the cache, whole and verified.
func TestUncompressedCacheEntryNotLinkable(t *testing.T) {
	src := t.TempDir()
	writeTestTree(t, src, 1)
	want := listTree(t, src)
	r := initRepo(t, ModeArchive)
	c := commitDir(t, r, "main", src)
	commit, _ := r.ReadCommit(c)
	root := RootNode(commit)
	orig := linkStagedEntry
	linkStagedEntry = func(int, string, int, string) error { return syscall.EXDEV }
	co := checkoutU(t, r, c, CheckoutOptions{})
	linkStagedEntry = orig
	if got := listTree(t, co); !slices.Equal(got, want) {
		t.Errorf("checkout differs from the source:\n%s", strings.Join(got, "\n"))
	}
	assertNoTmpLeft(t, r)
	publishNow(t, r)
	for _, rel := range []string{"hello.txt", "sub/run.sh", "sub/deeper/data.bin"} {
		e := entryFor(t, r, root, rel)
		if inode(t, e) == inode(t, filepath.Join(co, rel)) {
			t.Errorf("%s: linked though linking failed", rel)
		}
		if got, want := readFile(t, e), readFile(t, filepath.Join(src, rel)); string(got) != string(want) {
			t.Errorf("%s: entry holds %q, want %q", rel, got, want)
		}
	}
	second := checkoutU(t, r, c, CheckoutOptions{})
	if inode(t, filepath.Join(second, "hello.txt")) != inode(t, entryFor(t, r, root, "hello.txt")) {
		t.Error("the next checkout did not hardlink the entry")
	}
}

// archiveTestCommit commits the test tree to a new archive repository's
// main, and returns the repository, the commit, its root and the tree's
// listing.
func archiveTestCommit(t *testing.T) (*Repo, Checksum, Node, []string) {
	t.Helper()
	src := t.TempDir()
	writeTestTree(t, src, 1)
	want := listTree(t, src)
	r := initRepo(t, ModeArchive)
	c := commitDir(t, r, "main", src)
	commit, err := r.ReadCommit(c)
	if err != nil {
		t.Fatal(err)
	}
	return r, c, RootNode(commit), want
}

// withCoreConfig appends lines to the [core] section that ends r's
// config, and returns r opened again; no lines: r.
func withCoreConfig(t *testing.T, r *Repo, lines string) *Repo {
	t.Helper()
	if lines == "" {
		return r
	}
	cfg := readFile(t, filepath.Join(r.Path(), "config"))
	writeFile(t, filepath.Join(r.Path(), "config"), append(cfg, lines...))
	r, err := Open(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	return r
}
