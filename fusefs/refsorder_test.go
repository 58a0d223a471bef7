package fusefs

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/repofs/repofs/repo"
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
	repoPath := flathubRepo(t, ftsSortMin+5)
	seed, err := os.ReadFile(filepath.Join(repoPath, "refs", "heads", "seed"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"zeta", "alpha", "mid"} {
		p := filepath.Join(repoPath, "refs", "heads", "small", name, "ref")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, seed, 0o644); err != nil {
			t.Fatal(err)
		}
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

// TestWalkOrderChunks: fts reads ftsChunk entries at a time, refs
// counted, and sorts the directories of each chunk of more than
// ftsSortMin entries on its own by inode number; a smaller chunk keeps
// the listing's order.
func TestWalkOrderChunks(t *testing.T) {
	for _, n := range []int{ftsSortMin, ftsSortMin + 1, ftsChunk + ftsSortMin/2, ftsChunk + ftsSortMin + 3} {
		tr := newRefsTree()
		var entries []string // the listing: refs and directories
		for i := range n {
			p := fmt.Sprintf("heads/big/d%07d", i)
			if i%3 == 0 {
				tr.set(p, repo.Checksum{})
			} else {
				tr.addStub(p)
			}
			entries = append(entries, p)
		}
		ino := func(p string) uint64 { return entryIno("refdir", "heads/big", path.Base(p), nil) }
		var want []string
		for chunk := range slices.Chunk(entries, ftsChunk) {
			var dirs []string
			for _, p := range chunk {
				if tr.isStub(p) {
					dirs = append(dirs, p)
				}
			}
			if len(chunk) > ftsSortMin {
				slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(ino(a), ino(b)) })
			}
			want = append(want, dirs...)
		}
		got := walkOrder(nil, "heads/big", tr.find("heads/big").kids())
		if !slices.Equal(got, want) {
			t.Errorf("%d entries: directories not in fts's order (%d, want %d)", n, len(got), len(want))
		}
	}
}
