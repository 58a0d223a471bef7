package tmpdir

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
)

// TestHeldDirsOutliveOstreeCleanup: ostree's tmp/ cleanup removes every
// non-staging entry (and every lock file) older than tmp-expiry-secs
// without looking at locks. Directories held for longer than that keep a
// fresh mtime, so an 'ostree commit' (which cleans tmp/) leaves them and
// their lock files alone, while it removes an old, released one.
func TestHeldDirsOutliveOstreeCleanup(t *testing.T) {
	repotest.RequireOstree(t)
	old := refreshEvery
	refreshEvery = 20 * time.Millisecond
	t.Cleanup(func() { refreshEvery = old })

	repo := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, repo, "archive")
	tmp := filepath.Join(repo, "tmp")
	boot, err := BootID()
	if err != nil {
		t.Fatal(err)
	}
	var held []*Dir
	for _, k := range []Kind{Fetcher, Staging} {
		d, err := Allocate(t.Context(), tmp, k, boot)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Remove() })
		held = append(held, d)
	}
	released, err := Allocate(t.Context(), tmp, Fetcher, boot) // not one of held: they are locked
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(released.Path, "partial"), []byte("x"), 0o644)
	released.Release()
	long := time.Now().Add(-72 * time.Hour)
	for _, p := range []string{released.Path, held[0].Path, held[0].Path + LockSuffix, held[1].Path, held[1].Path + LockSuffix} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, d := range held {
		for _, p := range []string{d.Path, d.Path + LockSuffix} {
			for {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if time.Since(st.ModTime()) < time.Hour {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s kept its old mtime %v", p, st.ModTime())
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	tree := t.TempDir()
	repotest.WriteTree(t, tree, []repotest.Entry{{Path: "f", Kind: repotest.File, Data: []byte("f")}})
	repotest.Commit(t, repo, "main", tree, repotest.CommitOpts{})
	if _, err := os.Stat(released.Path); err == nil {
		t.Fatalf("ostree's cleanup did not run: the old released %s is still there", released.Name)
	}
	for _, d := range held {
		for _, p := range []string{d.Path, d.Path + LockSuffix} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("held %s: %v", filepath.Base(p), err)
			}
		}
	}
}

// TestRemoveUnlocked removes released directories of any boot and counts
// their bytes, and never touches a held one.
func TestRemoveUnlocked(t *testing.T) {
	tmp := t.TempDir()
	var held *Dir
	for i, boot := range []string{"boot-a", "boot-b", "boot-a"} {
		// The held one first: a later Allocate would reuse a released one.
		d, err := Allocate(t.Context(), tmp, []Kind{Fetcher, Staging, Fetcher}[i], boot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d.Path, "data"), make([]byte, 10000), 0o644); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			held = d
			t.Cleanup(func() { d.Remove() })
			continue
		}
		d.Release()
	}
	if n, err := Usage(tmp); err != nil || n < 30000 {
		t.Errorf("Usage = %d, %v; want at least 30000", n, err)
	}
	res, err := RemoveUnlocked(t.Context(), tmp)
	if err != nil || res.Dirs != 2 || res.Busy != 1 || res.Bytes < 20000 {
		t.Fatalf("RemoveUnlocked: %+v %v", res, err)
	}
	ents, _ := os.ReadDir(tmp)
	if len(ents) != 2 { // the held directory and its lock
		t.Errorf("left: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(held.Path, "data")); err != nil {
		t.Errorf("held directory touched: %v", err)
	}
}
