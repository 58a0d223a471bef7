package repo

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestCommitIndex: each Refresh reports the commits that became complete
// and those that went, whether a commit object was written or deleted or
// its .commitpartial made or removed, and even when a directory's
// modification time was put back as it was (its change time moves).
func TestCommitIndex(t *testing.T) {
	b := newBuilder(t)
	root := b.tree(nil, nil)
	c1 := b.commit(root, nil, "one")
	r := b.open()
	x := r.NewCommitIndex()
	check := func(step string, wantAdded, wantRemoved []Checksum) {
		t.Helper()
		added, removed, err := x.Refresh()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if !slices.Equal(added, wantAdded) || !slices.Equal(removed, wantRemoved) {
			t.Errorf("%s: added %v removed %v, want %v and %v", step, added, removed, wantAdded, wantRemoved)
		}
		want, err := r.CompleteCommits()
		if err != nil {
			t.Fatal(err)
		}
		if got := x.Commits(); !slices.Equal(got, want) {
			t.Errorf("%s: index lists %v, CompleteCommits %v", step, got, want)
		}
		for _, c := range want {
			if !x.Contains(c) {
				t.Errorf("%s: Contains(%s) is false", step, c)
			}
		}
	}
	check("first", nil, nil)
	check("unchanged", nil, nil)
	c2 := b.commit(root, &c1, "two")
	check("new commit", []Checksum{c2}, nil)
	partial := filepath.Join(b.path, "state", c2.String()+".commitpartial")
	writeFile(t, partial, nil)
	check("marked partial", nil, []Checksum{c2})
	os.Remove(partial)
	check("completed", []Checksum{c2}, nil)
	os.Remove(filepath.Join(b.path, "objects", c1.String()[:2], c1.String()[2:]+".commit"))
	check("pruned", nil, []Checksum{c1})

	// A directory whose times are old is not read again unless they
	// change; a change that puts mtime back still moves ctime.
	dir := filepath.Join(b.path, "objects", c2.String()[:2])
	old := time.Now().Add(-time.Hour)
	os.Chtimes(dir, old, old)
	check("times put back", nil, nil)
	check("trusted", nil, nil)
	os.Remove(filepath.Join(dir, c2.String()[2:]+".commit"))
	os.Chtimes(dir, old, old)
	check("pruned, mtime put back", nil, []Checksum{c2})
}
