package fusefs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// TestDescend: listing a directory reads the objects of the directories
// below it into the caches in the background, so that their listings do
// not wait for the disk; a damaged object below is left for its own
// lookup to report, and the mount keeps serving.
func TestDescend(t *testing.T) {
	for _, mode := range []string{"archive", "bare-user"} {
		t.Run(mode, func(t *testing.T) {
			var entries []repotest.Entry
			const files = 3 * 3 * 3 * 4
			for i := range files {
				p := fmt.Sprintf("a%d/b%d/c%d/f%d", i%3, i/3%3, i/9%3, i)
				entries = append(entries, repotest.Entry{Path: p, Kind: repotest.File, Data: []byte(p)})
			}
			entries = append(entries, repotest.Entry{Path: "top", Kind: repotest.File, Data: []byte("top")})
			repoPath, c := testrepo.NewRepo(t, mode, entries)
			// Damage one file deep down: the descent must not trip on it.
			r, deep := commitTree(t, repoPath, c, "a2")
			for range 2 { // b2, c2
				var err error
				if deep, err = r.ReadDirTree(deep.Dirs[2].Tree); err != nil {
					t.Fatal(err)
				}
			}
			damaged := deep.Files[0]
			if err := os.Remove(contentObject(t, repoPath, damaged.Content)); err != nil {
				t.Fatal(err)
			}
			m, mp := testMount(t, repoPath)
			root := filepath.Join(mp, "commits", c)
			if ents, err := os.ReadDir(root); err != nil || len(ents) != 4 {
				t.Fatalf("readdir: %v %v", ents, err)
			}
			// Every file but the damaged one: top, and those below a*/.
			want := files
			deadline := time.Now().Add(10 * time.Second)
			for n := m.FS.stats.len(); n < want; n = m.FS.stats.len() {
				if time.Now().After(deadline) {
					t.Fatalf("after listing the root, %d file objects cached, want %d", n, want)
				}
				time.Sleep(time.Millisecond)
			}
			if n := m.FS.trees.len(); n < 1+3+9+27 {
				t.Errorf("%d trees cached, want all %d", n, 1+3+9+27)
			}
			p := filepath.Join(root, "a2/b2/c2", damaged.Name)
			if _, err := os.Stat(p); err == nil {
				t.Errorf("stat %s of a missing object succeeded", p)
			}
			if b, err := os.ReadFile(filepath.Join(root, "a0/b0/c0/f0")); err != nil || string(b) != "a0/b0/c0/f0" {
				t.Errorf("read after the descent: %q %v", b, err)
			}
		})
	}
}

// TestDescendBudget: a listing has at most descendAhead objects read in
// the background.
func TestDescendBudget(t *testing.T) {
	old := descendAhead
	descendAhead = 10
	t.Cleanup(func() { descendAhead = old })
	var entries []repotest.Entry
	for i := range 100 {
		p := fmt.Sprintf("d%d/e%d/f%d", i%2, i%5, i)
		entries = append(entries, repotest.Entry{Path: p, Kind: repotest.File, Data: []byte(p)})
	}
	repoPath, c := testrepo.NewRepo(t, "bare-user", entries)
	m, mp := testMount(t, repoPath)
	if _, err := os.ReadDir(filepath.Join(mp, "commits", c)); err != nil {
		t.Fatal(err)
	}
	d := m.FS.descend
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.mu.Lock()
		idle := d.workers == 0
		d.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("descent still running after 10s")
		}
		time.Sleep(time.Millisecond)
	}
	// Trees and metas count too; at most a worker's item past the budget
	// each.
	if n := m.FS.stats.len() + m.FS.trees.len(); n > descendAhead+descendWorkers+1 {
		t.Errorf("%d objects read by the descent, want at most %d", n, descendAhead+descendWorkers+1)
	}
	if n := m.FS.stats.len(); n == 0 {
		t.Errorf("nothing read by the descent")
	}
}

// len is how many objects s holds (tests only).
func (s *objectCache[V]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
