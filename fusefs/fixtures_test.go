package fusefs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
	"github.com/repofs/repofs/repo"
)

// flathubRepo makes a bare-user repository with n refs named as
// Flathub's (app/org.example.AppNNNNNN/x86_64/stable), all at one commit.
func flathubRepo(t *testing.T, n int) string {
	t.Helper()
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "bare-user")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("0")}})
	c := testrepo.Commit(t, repoPath, "seed", src, repotest.CommitOpts{})
	for i := range n {
		f := filepath.Join(repoPath, "refs", "heads", "app", fmt.Sprintf("org.example.App%06d", i), "x86_64", "stable")
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return repoPath
}

// commitTree opens a repository and reads the tree at dir ("" for the
// root; one level only) of commit c.
func commitTree(t *testing.T, repoPath, c, dir string) (*repo.Repo, *repo.DirTree) {
	t.Helper()
	r, err := repo.Open(repoPath)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := r.ReadCommit(mustChecksum(t, c))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := r.ReadDirTree(commit.RootTree)
	if err == nil && dir != "" {
		i, ok := findDir(tree.Dirs, dir)
		if !ok {
			t.Fatalf("commit %s has no directory %s", c, dir)
		}
		tree, err = r.ReadDirTree(tree.Dirs[i].Tree)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, tree
}

// contentObject is the path of content object c in any mode.
func contentObject(t *testing.T, repoPath string, c repo.Checksum) string {
	t.Helper()
	h := c.String()
	objs, _ := filepath.Glob(filepath.Join(repoPath, "objects", h[:2], h[2:]+".file*"))
	if len(objs) != 1 {
		t.Fatalf("object of %s: %v", h, objs)
	}
	return objs[0]
}
