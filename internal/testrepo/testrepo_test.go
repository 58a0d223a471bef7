package testrepo

import (
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
)

// TestFixtureMatchesOstree builds the fixture with repofs's writer and with
// ostree, in every mode, and requires the same commits: the read-side tests
// that use this package then see exactly what ostree would have written.
func TestFixtureMatchesOstree(t *testing.T) {
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			ours := NewFixture(t, mode, repotest.FixtureOpts{Wide: 40})
			theirs := repotest.NewFixture(t, mode, repotest.FixtureOpts{Wide: 40})
			for ref, c := range theirs.Refs {
				if ours.Refs[ref] != c {
					t.Errorf("ref %s: repofs wrote %s, ostree %s", ref, ours.Refs[ref], c)
				}
			}
			r, err := repo.Open(ours.Repo)
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := repo.ParseMode(mode); r.Mode() != want {
				t.Errorf("mode %s, want %s", r.Mode(), mode)
			}
		})
	}
}
