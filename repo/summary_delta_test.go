package repo

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo/gvariant"
)

// readIndexes decodes every delta-indexes/XX/REST.index of a repository.
func readIndexes(t *testing.T, path string) map[string]map[string]Checksum {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(path, "delta-indexes", "*", "*.index"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]Checksum{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := gvariant.DecodeMetadata(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if out[f], err = DecodeStaticDeltas(m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return out
}

func TestSummaryListsDeltas(t *testing.T) {
	repotest.RequireOstree(t)
	ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 20, Big: 10 << 10})
	r, err := Open(ds.Repo)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := r.ReadSummary()
	if err != nil {
		t.Fatal(err)
	}
	theirIndexes := readIndexes(t, ds.Repo)
	if len(theirs.StaticDeltas) != 2 || len(theirIndexes) != 1 {
		t.Fatalf("ostree's summary lists %d deltas and %d indexes, want 2 and 1", len(theirs.StaticDeltas), len(theirIndexes))
	}
	// A stale index is removed (ostree looks only at names of the right
	// length).
	stale := filepath.Join(ds.Repo, "delta-indexes", "AA", strings.Repeat("s", 41)+".index")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	os.WriteFile(stale, []byte("x"), 0o644)
	if err := r.UpdateSummary(t.Context(), time.Now()); err != nil {
		t.Fatal(err)
	}
	ours, err := r.ReadSummary()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(ours.StaticDeltas, theirs.StaticDeltas) || !ours.IndexedDeltas {
		t.Errorf("summary lists deltas %v (indexed %v), ostree's %v", ours.StaticDeltas, ours.IndexedDeltas, theirs.StaticDeltas)
	}
	ourIndexes := readIndexes(t, ds.Repo)
	if !maps.EqualFunc(ourIndexes, theirIndexes, maps.Equal) {
		t.Errorf("delta indexes %v, ostree's %v", ourIndexes, theirIndexes)
	}
	// ostree reads what repofs wrote.
	out := repotest.Ostree(t, "--repo="+ds.Repo, "summary", "--view")
	for name := range theirs.StaticDeltas {
		if !strings.Contains(out, name) {
			t.Errorf("ostree summary --view does not show delta %s:\n%s", name, out)
		}
	}
	// Without deltas, the summary lists none and the indexes go.
	os.RemoveAll(filepath.Join(ds.Repo, "deltas"))
	if err := r.UpdateSummary(t.Context(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if ours, err = r.ReadSummary(); err != nil || ours.StaticDeltas != nil {
		t.Errorf("summary without deltas lists %v (%v)", ours.StaticDeltas, err)
	}
	if left := readIndexes(t, ds.Repo); len(left) != 0 {
		t.Errorf("delta indexes left: %v", left)
	}
}
