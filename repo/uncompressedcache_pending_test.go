package repo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// TestPendingOtherBoot: entries left pending before a reboot (another
// boot ID) are dropped unpublished, their area removed: their bytes may
// not have reached the disk.
func TestPendingOtherBoot(t *testing.T) {
	r, c, root, _ := archiveTestCommit(t)
	checkoutU(t, r, c, CheckoutOptions{})
	if len(pendingAreas(t, r)) != 1 {
		t.Fatalf("pending areas %v, want one", pendingAreas(t, r))
	}
	orig := ucacheBootID
	ucacheBootID = func() (string, error) { return "another-boot", nil }
	t.Cleanup(func() { ucacheBootID = orig })
	if n := publishNow(t, r); n != 0 {
		t.Errorf("published %d entries of another boot", n)
	}
	if ps := pendingAreas(t, r); len(ps) != 0 {
		t.Errorf("pending areas of another boot left: %v", ps)
	}
	if _, err := os.Lstat(entryFor(t, r, root, "hello.txt")); err == nil {
		t.Error("an entry of another boot is in the cache")
	}
}

// TestPendingEdited: a pending entry changed through the checkout's file
// (its hardlink) is never published: written, or chmodded; one whose
// write the stat cannot see (same size, mtime set back) is published,
// but the next checkout verifies it, links its own file instead, and
// that replaces it.
func TestPendingEdited(t *testing.T) {
	r, c, root, want := archiveTestCommit(t)
	first := checkoutU(t, r, c, CheckoutOptions{})
	writeFile(t, filepath.Join(first, "hello.txt"), []byte("edited, longer\n"))
	if err := os.Chmod(filepath.Join(first, "sub/run.sh"), 0o700); err != nil {
		t.Fatal(err)
	}
	rewriteKeepingMtime(t, filepath.Join(first, "with space/é.txt"), []byte("UNICODE\n"))
	second := checkoutU(t, r, c, CheckoutOptions{})
	for _, rel := range []string{"hello.txt", "sub/run.sh"} {
		if _, err := os.Lstat(entryFor(t, r, root, rel)); err == nil {
			t.Errorf("%s: changed after staging, and published", rel)
		}
	}
	if inode(t, entryFor(t, r, root, "sub/deeper/data.bin")) != inode(t, filepath.Join(first, "sub/deeper/data.bin")) {
		t.Error("an unchanged pending entry was not published")
	}
	if got := listTree(t, second); !slices.Equal(got, want) {
		t.Errorf("checkout after edits of pending entries differs from the source:\n%s", strings.Join(got, "\n"))
	}
	uni := filepath.Join("with space", "é.txt")
	if inode(t, filepath.Join(second, uni)) == inode(t, filepath.Join(first, uni)) {
		t.Error("a corrupt published entry was hardlinked into a checkout")
	}
	publishNow(t, r)
	for _, rel := range []string{"hello.txt", "sub/run.sh", uni} {
		e := entryFor(t, r, root, rel)
		if inode(t, e) != inode(t, filepath.Join(second, rel)) {
			t.Errorf("%s: the entry is not the second checkout's file", rel)
		}
	}
	if got := readFile(t, entryFor(t, r, root, uni)); string(got) != "unicode\n" {
		t.Errorf("the corrupt entry was not replaced: %q", got)
	}
}

// TestPendingConcurrentPublishers: two processes publishing at once
// (publishPending alone, or two -U checkouts) claim each pending area
// once: every entry goes in once (the same content staged by two
// checkouts, once in all), none fails, and the cache entry is a staged
// file, which a checkout then links.
func TestPendingConcurrentPublishers(t *testing.T) {
	for _, byCheckout := range []bool{false, true} {
		t.Run(map[bool]string{false: "publish", true: "checkout"}[byCheckout], func(t *testing.T) {
			r := initRepo(t, ModeArchive)
			aside := t.TempDir()
			staged := map[string][]uint64{} // entry -> inodes staged for it
			var last Checksum
			for v := range 4 {
				src := t.TempDir()
				writeTestTree(t, src, v)
				last = commitDir(t, r, "main", src)
				co := checkoutU(t, r, last, CheckoutOptions{})
				ps := pendingAreas(t, r)
				if len(ps) != 1 {
					t.Fatalf("pending areas %v, want one", ps)
				}
				// Out of the next checkout's way, which would publish it.
				if err := os.Rename(ps[0], filepath.Join(aside, filepath.Base(ps[0]))); err != nil {
					t.Fatal(err)
				}
				commit, _ := r.ReadCommit(last)
				for _, rel := range []string{"hello.txt", "sub/run.sh", "sub/deeper/data.bin", "with space/é.txt", "v" + string(rune('0'+v))} {
					e := entryFor(t, r, RootNode(commit), rel)
					staged[e] = append(staged[e], inode(t, filepath.Join(co, rel)))
				}
			}
			ents, _ := os.ReadDir(aside)
			for _, e := range ents {
				if err := os.Rename(filepath.Join(aside, e.Name()), filepath.Join(r.Path(), "tmp", e.Name())); err != nil {
					t.Fatal(err)
				}
			}
			var (
				wg    sync.WaitGroup
				total int
				mu    sync.Mutex
				errs  []error
				cos   []string
			)
			for range 2 {
				dest := filepath.Join(t.TempDir(), "co")
				wg.Add(1)
				go func() {
					defer wg.Done()
					rr, err := Open(r.Path())
					var n int
					if err == nil && byCheckout {
						var commit *Commit
						if commit, err = rr.ReadCommit(last); err == nil {
							err = rr.Checkout(context.Background(), RootNode(commit), dest, CheckoutOptions{User: true})
						}
					} else if err == nil {
						n, err = rr.publishPending(context.Background())
					}
					mu.Lock()
					total += n
					errs = append(errs, err)
					cos = append(cos, dest)
					mu.Unlock()
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if !byCheckout && total != len(staged) {
				t.Errorf("published %d entries in all, want %d", total, len(staged))
			}
			if byCheckout {
				// What the checkouts left pending themselves (an entry one
				// did not find, the other publishing it meanwhile) goes in
				// now, and changes nothing: an existing entry wins.
				publishNow(t, r)
			}
			for e, inos := range staged {
				if got := inode(t, e); !slices.Contains(inos, got) {
					t.Errorf("%s is inode %d, none of the staged %v", filepath.Base(e), got, inos)
				}
			}
			if ps := pendingAreas(t, r); len(ps) != 0 {
				t.Errorf("pending areas left: %v", ps)
			}
			if byCheckout {
				want := listTree(t, cos[0])
				if got := listTree(t, cos[1]); !slices.Equal(got, want) {
					t.Errorf("the two checkouts differ:\n%s\n---\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
				}
			}
		})
	}
}

// TestInteropPendingPublished: ostree neither sees nor touches pending
// entries; once the next repofs checkout published them, ostree's -U
// checkout hardlinks them and its fsck is clean.
func TestInteropPendingPublished(t *testing.T) {
	repotest.RequireOstree(t)
	src := richTree(t)
	r := initRepo(t, ModeArchive)
	c := commitDir(t, r, "main", src)
	first := checkoutU(t, r, c, CheckoutOptions{})
	before := filepath.Join(t.TempDir(), "before")
	repotest.Ostree(t, "--repo="+r.Path(), "checkout", "-U", "main", before)
	if inode(t, filepath.Join(before, "hello.txt")) == inode(t, filepath.Join(first, "hello.txt")) {
		t.Fatal("ostree linked a pending entry")
	}
	// ostree filled the cache meanwhile: empty it again, and publish.
	if err := os.RemoveAll(filepath.Join(r.Path(), uncompressedCacheDir)); err != nil {
		t.Fatal(err)
	}
	second := checkoutU(t, r, c, CheckoutOptions{})
	third := filepath.Join(t.TempDir(), "third")
	repotest.Ostree(t, "--repo="+r.Path(), "checkout", "-U", "main", third)
	for _, rel := range []string{"hello.txt", "big.bin", "with space/日本.txt"} {
		a, b, o := inode(t, filepath.Join(first, rel)), inode(t, filepath.Join(second, rel)), inode(t, filepath.Join(third, rel))
		if a != b || a != o {
			t.Errorf("%s: inodes first %d, second %d, ostree's %d: not all the published entry", rel, a, b, o)
		}
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
	if ps := pendingAreas(t, r); len(ps) != 0 {
		t.Errorf("pending areas left: %v", ps)
	}
}

// TestPendingNoFsync: with nothing to make durable (--fsync=false,
// core.fsync=false), a checkout publishes its new entries itself, at
// once, and leaves nothing pending; by default it leaves them pending.
func TestPendingNoFsync(t *testing.T) {
	for _, tc := range []struct {
		name    string
		config  string
		o       CheckoutOptions
		pending bool
	}{
		{"default", "", CheckoutOptions{}, true},
		{"option", "", CheckoutOptions{NoFsync: true}, false},
		{"config", "fsync=false\n", CheckoutOptions{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, c, root, _ := archiveTestCommit(t)
			r = withCoreConfig(t, r, tc.config)
			co := checkoutU(t, r, c, tc.o)
			if got := len(pendingAreas(t, r)) == 1; got != tc.pending {
				t.Errorf("pending areas %v, want pending %v", pendingAreas(t, r), tc.pending)
			}
			_, err := os.Lstat(entryFor(t, r, root, "hello.txt"))
			if published := err == nil; published == tc.pending {
				t.Fatalf("entry published at once: %v, want %v", published, !tc.pending)
			}
			if !tc.pending && inode(t, entryFor(t, r, root, "hello.txt")) != inode(t, filepath.Join(co, "hello.txt")) {
				t.Error("the checkout's file is not the entry")
			}
		})
	}
}
