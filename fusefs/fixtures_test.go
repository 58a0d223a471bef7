package fusefs

import (
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/repo"
)

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
