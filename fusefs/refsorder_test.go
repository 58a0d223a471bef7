package fusefs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// TestFillOrderIsFindOrder: the fill and read-ahead read the directories
// in a directory of refs/ in the order find(1) enters them, so that the
// first find of a mirror's refs/ finds them read: the listing's order in
// a small directory, the inode numbers' in one of more than ftsSortMin
// entries, as gnulib's fts sorts them.
func TestFillOrderIsFindOrder(t *testing.T) {
	findBin, err := exec.LookPath("find")
	if err != nil {
		t.Skip("find(1) is not installed: no walk to compare the order with")
	}
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "bare-user")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("v")}})
	c := testrepo.Commit(t, repoPath, "seed", src, repotest.CommitOpts{})
	write := func(ref string) {
		p := filepath.Join(repoPath, "refs", "heads", filepath.FromSlash(ref))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range ftsSortMin + 5 {
		write(fmt.Sprintf("app/org.test.App%05d/x86_64/stable", i))
	}
	for _, name := range []string{"zeta", "alpha", "mid"} {
		write("small/" + name + "/ref")
	}
	o := noPoll
	o.noFill = true
	m, mp := testMountWith(t, repoPath, o)
	for _, dir := range []string{"heads/app", "heads/small"} {
		out, err := exec.Command(findBin, filepath.Join(mp, "refs", dir), "-mindepth", "1", "-maxdepth", "1", "-type", "d").Output()
		if err != nil {
			t.Fatalf("find in refs/%s: %v", dir, err)
		}
		var walked []string
		for line := range strings.Lines(string(out)) {
			rel, _ := filepath.Rel(filepath.Join(mp, "refs"), strings.TrimSuffix(line, "\n"))
			walked = append(walked, filepath.ToSlash(rel))
		}
		if dir == "heads/app" && slices.IsSorted(walked) {
			t.Fatal("find walked a directory of more than ftsSortMin entries in name order: not the fts this test expects")
		}
		order := m.FS.refs.subdirs([]string{dir})
		if !slices.Equal(order, walked) {
			n := min(len(order), len(walked), 5)
			t.Errorf("refs/%s: fill order %q…, find's %q… (%d and %d directories)", dir, order[:n], walked[:n], len(order), len(walked))
		}
	}
}
