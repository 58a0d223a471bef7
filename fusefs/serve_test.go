package fusefs

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// TestServeLoopAnswersReadRefsInline: once the directories of refs/ are
// read, a walk of refs/ is answered by the loop's reader alone, each
// request in turn, none handed to a worker; and it shows every ref.
func TestServeLoopAnswersReadRefsInline(t *testing.T) {
	const n = 300
	repoPath := flathubRepo(t, n)
	m, mp := mountForTest(t, repoPath, MountOptions{})
	if m.loop == nil {
		t.Fatal("the mount is served by go-fuse's loop, not serveLoop")
	}
	m.FS.refs.readBelow(t.Context(), "", 8)
	if _, err := os.Lstat(filepath.Join(mp, "refs")); err != nil {
		t.Fatal(err)
	}
	before := m.loop.handoffs.Load()
	links := 0
	err := filepath.WalkDir(filepath.Join(mp, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			links++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if links != n+1 { // and seed
		t.Errorf("walk found %d refs, want %d", links, n+1)
	}
	if h := m.loop.handoffs.Load() - before; h != 0 {
		t.Errorf("%d requests of the walk were handed to workers, want none", h)
	}
}

// TestServeLoopHandsOffUnread: a listing of a directory of refs/ not
// read yet, which waits for the disk, is handed to a worker, so that the
// reader reads on.
func TestServeLoopHandsOffUnread(t *testing.T) {
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "bare-user")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("0")}})
	c := testrepo.Commit(t, repoPath, "seed", src, repotest.CommitOpts{})
	f := filepath.Join(repoPath, "refs", "heads", "a", "b", "c")
	os.MkdirAll(filepath.Dir(f), 0o755)
	if err := os.WriteFile(f, []byte(c+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := MountOptions{}
	o.noReadAhead = true
	m, mp := mountForTest(t, repoPath, o)
	if m.loop == nil {
		t.Fatal("the mount is served by go-fuse's loop, not serveLoop")
	}
	before := m.loop.handoffs.Load()
	if target, err := os.Readlink(filepath.Join(mp, "refs", "heads", "a", "b", "c")); err != nil || filepath.Base(target) != c {
		t.Fatalf("readlink: %q, %v; want …/%s", target, err, c)
	}
	// heads, heads/a and heads/a/b were read for the lookups.
	if h := m.loop.handoffs.Load() - before; h < 3 {
		t.Errorf("%d requests handed to workers, want at least the 3 lookups in unread directories", h)
	}
}
