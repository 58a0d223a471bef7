package fusefs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// TestCommitsLive: commits/ follows the commit objects and .commitpartial
// markers that come and go without any ref changing and without a listing
// asking, from the repository's notifications alone (the safety-net look
// is put off for the test): a commit object renamed in shows, a marker
// hides it and its removal shows it again, a pruned commit leaves the
// listing and its lookup fails.
func TestCommitsLive(t *testing.T) {
	old := commitsPoll
	commitsPoll = time.Hour
	t.Cleanup(func() { commitsPoll = old })

	repoPath, c1 := testrepo.NewRepo(t, "bare-user", []repotest.Entry{{Path: "f", Kind: repotest.File, Data: []byte("one\n")}})
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "f", Kind: repotest.File, Data: []byte("two\n")}})
	c2 := testrepo.Commit(t, repoPath, "side", src, repotest.CommitOpts{})
	// c2 leaves the repository (and no ref names it) until the mount runs.
	obj := filepath.Join(repoPath, "objects", c2[:2], c2[2:]+".commit")
	aside := filepath.Join(t.TempDir(), "c2.commit")
	for _, err := range []error{os.Remove(filepath.Join(repoPath, "refs", "heads", "side")), os.Rename(obj, aside)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	_, mp := testMountWith(t, repoPath, noPoll)
	commits := filepath.Join(mp, "commits")
	listed := func(want ...string) func() bool {
		slices.Sort(want)
		return func() bool {
			ents, err := os.ReadDir(commits)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ents {
				got = append(got, e.Name())
			}
			return slices.Equal(got, want)
		}
	}
	waitFor(t, "c1 alone", listed(c1))
	marker := filepath.Join(repoPath, "state", c2+".commitpartial")
	for _, step := range []struct {
		name string
		do   func() error
		want []string
	}{
		{"renamed in", func() error { return os.Rename(aside, obj) }, []string{c1, c2}},
		{"marked partial", func() error { return os.WriteFile(marker, nil, 0o644) }, []string{c1}},
		{"completed", func() error { return os.Remove(marker) }, []string{c1, c2}},
		{"pruned", func() error { return os.Remove(obj) }, []string{c1}},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		waitFor(t, step.name, listed(step.want...))
	}
	if _, err := os.Stat(filepath.Join(commits, c2)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pruned commit: stat gives %v, want ENOENT", err)
	}
}
