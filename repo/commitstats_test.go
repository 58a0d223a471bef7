package repo

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestTransactionStats commits one tree twice: the second transaction
// counts every object in its totals and none as written, content objects
// included, which it stages before finding them in objects/.
func TestTransactionStats(t *testing.T) {
	for _, mode := range []Mode{ModeArchive, ModeBareUser} {
		r := initRepo(t, mode)
		src := t.TempDir()
		for p, data := range map[string]string{"a": "hello\n", "d/b": "hello\n", "d/c": "other\n"} {
			if err := os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, p), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink("a", filepath.Join(src, "l")); err != nil {
			t.Fatal(err)
		}
		commit := func(subject string) TransactionStats {
			tx, err := r.Begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Abort()
			tree, meta, err := tx.WriteDirectory(context.Background(), src, DirOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.WriteCommit(CommitOptions{Subject: subject}, tree, meta); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			return tx.Stats()
		}
		// 2 dirmetas (one object), 2 dirtrees, a commit; 4 files (3
		// objects, 12 payload bytes: the symlink's count 0).
		if got, want := commit("one"), (TransactionStats{5, 4, 4, 3, 12}); got != want {
			t.Errorf("%v: first commit %+v, want %+v", mode, got, want)
		}
		if got, want := commit("two"), (TransactionStats{5, 1, 4, 0, 0}); got != want {
			t.Errorf("%v: second commit %+v, want %+v", mode, got, want)
		}
	}
}
