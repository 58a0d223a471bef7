package repo

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestPruneKeepMirrorRefs: ostree's selective prune (--only-branch) does not
// count refs/mirrors as roots, so a commit only a mirrored ref reaches goes,
// as with ostree; KeepMirrorRefs, which retention sets, keeps it.
func TestPruneKeepMirrorRefs(t *testing.T) {
	for _, keep := range []bool{false, true} {
		r := initRepo(t, ModeBareUser)
		src := t.TempDir()
		writeTestTree(t, src, 1)
		commitDir(t, r, "main", src)
		mirrored := t.TempDir()
		writeTestTree(t, mirrored, 2)
		m := commitDir(t, r, "tmp", mirrored)
		if err := r.DeleteRefImmediate(context.Background(), "", "tmp"); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(r.Path(), "refs", "mirrors", "org.example.Os")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "os"), []byte(m.String()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Prune(context.Background(), PruneOptions{OnlyBranches: []string{"main"}, KeepMirrorRefs: keep}); err != nil {
			t.Fatal(err)
		}
		_, err := r.ReadCommit(m)
		switch {
		case keep && err != nil:
			t.Errorf("KeepMirrorRefs: the mirrored ref's commit went: %v", err)
		case !keep && err == nil:
			t.Errorf("without KeepMirrorRefs the mirrored ref's commit stayed; ostree's --only-branch deletes it")
		}
		if keep {
			rep, err := r.Fsck(context.Background(), FsckOptions{})
			if err != nil || len(rep.Problems) > 0 {
				t.Errorf("fsck after the prune: %v %v", err, rep.Problems)
			}
		}
	}
}
