package fusefs

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

func TestRunAll(t *testing.T) {
	for _, jobs := range []int{0, 1, 2, 15, 100} {
		for _, workers := range []int{1, 4, 16} {
			t.Run(fmt.Sprintf("%d jobs on %d", jobs, workers), func(t *testing.T) {
				runs := make([]atomic.Int32, jobs)
				var fns []func()
				for i := range jobs {
					fns = append(fns, func() { runs[i].Add(1) })
				}
				runAll(fns, workers)
				for i := range runs {
					if n := runs[i].Load(); n != 1 {
						t.Errorf("job %d ran %d times", i, n)
					}
				}
			})
		}
	}
}

// TestWarm: a listing reads ahead, into the caches, every file's metadata
// and every subdirectory's tree and meta, so that readdirplus's lookups
// that follow find them there; and it leaves a damaged object for the
// lookup to report.
func TestWarm(t *testing.T) {
	for _, mode := range []string{"archive", "bare-user"} {
		t.Run(mode, func(t *testing.T) {
			var entries []repotest.Entry
			for i := range 30 {
				entries = append(entries, repotest.Entry{Path: fmt.Sprintf("f%d", i), Kind: repotest.File, Data: []byte(fmt.Sprint(i))})
			}
			for i := range 5 {
				entries = append(entries, repotest.Entry{Path: fmt.Sprintf("d%d/x%d", i, i), Kind: repotest.File, Data: []byte("sub" + fmt.Sprint(i))})
			}
			repoPath, c := testrepo.NewRepo(t, mode, entries)
			r, tree := commitTree(t, repoPath, c, "")
			if err := os.Remove(contentObject(t, repoPath, tree.Files[0].Content)); err != nil {
				t.Fatal(err)
			}
			f := New(r, Options{})
			f.warm(tree)
			if _, ok := f.stats.get(tree.Files[0].Content); ok {
				t.Errorf("a missing object was cached")
			}
			for _, e := range tree.Files[1:] {
				fi, ok := f.stats.get(e.Content)
				want, err := r.StatFile(e.Content)
				if !ok || err != nil || fi.Size != want.Size || fi.Mode != want.Mode {
					t.Errorf("%s: cached %+v (%v), want %+v", e.Name, fi, ok, want)
				}
			}
			for _, e := range tree.Dirs {
				st, ok := f.trees.get(e.Tree)
				if !ok || len(st.Files) != 1 {
					t.Errorf("%s: tree cached %v: %+v", e.Name, ok, st)
				}
				if _, ok := f.metas.get(e.Meta); !ok {
					t.Errorf("%s: meta not cached", e.Name)
				}
			}
		})
	}
}
