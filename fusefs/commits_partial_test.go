package fusefs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// TestCommitMarkedPartialKeepsReaders: a commit a pull marks partial again
// (a resumed transaction does, while it runs) leaves the listing of
// commits/, but a process already reading inside it keeps reading it
// (DESIGN invariant 5), where the commits index once made the kernel
// forget it and the reader got ENOENT.
func TestCommitMarkedPartialKeepsReaders(t *testing.T) {
	repoPath, c := testrepo.NewRepo(t, "bare-user", []repotest.Entry{{Path: "dir/f", Kind: repotest.File, Data: []byte("x\n")}})
	m, mp := testMount(t, repoPath)
	dir := filepath.Join(mp, "commits", c, "dir")
	if _, err := os.Stat(filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(repoPath, "state", c+".commitpartial")
	if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The commits index learns of the marker from the repository's
	// notifications; wait for the listing to drop c, then check the
	// reader's path still works.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		m.FS.refreshNotify()
		ents, err := os.ReadDir(filepath.Join(mp, "commits"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(ents, func(e os.DirEntry) bool { return e.Name() == c }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("commits/ still lists %s, marked partial", c)
		}
	}
	for _, p := range []string{dir, filepath.Join(dir, "f"), filepath.Join(mp, "commits", c)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a reader inside the commit lost %s: %v", p, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "x\n" {
		t.Errorf("read: %q %v", b, err)
	}
}
