package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

func isIndexPath(p string) bool { return strings.HasPrefix(p, "/delta-indexes/") }

// TestOstreeFindsRepofsDeltaIndexes: ostree pull into a bare-user
// repository finds the (big-endian) deltas repofs generated however the
// repository publishes them: listed in the summary repofs wrote (and in
// delta-indexes/, which the summary's indexed-deltas makes ostree prefer),
// in delta-indexes/ only (core.no-deltas-in-summary), or with no summary
// at all, pulling a commit by checksum: ostree then reads the
// core.indexed-deltas=true that `repofs static-delta reindex` set in the
// repository's config.
func TestOstreeFindsRepofsDeltaIndexes(t *testing.T) {
	repotest.RequireOstree(t)
	for _, how := range []string{"summary", "indexes only", "no summary"} {
		t.Run(how, func(t *testing.T) {
			ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 30, Big: 128 << 10, NoScratch: true, NoFrom: true})
			for _, args := range [][]string{
				{"--empty", "--to=" + ds.From, "--swap-endianness"},
				{"--from=" + ds.From, "--to=" + ds.To, "--set-endianness=B"},
			} {
				if _, stderr, code := repofs(t, append([]string{"--repo=" + ds.Repo, "static-delta", "generate"}, args...)...); code != 0 {
					t.Fatalf("static-delta generate %v: exit %d: %s", args, code, stderr)
				}
			}
			publish := []string{"summary", "-u"}
			switch how {
			case "indexes only":
				repotest.Ostree(t, "--repo="+ds.Repo, "config", "set", "core.no-deltas-in-summary", "true")
			case "no summary":
				publish = []string{"static-delta", "reindex"}
			}
			// NewDeltaSource's ostree summary -u set it: repofs must.
			repotest.Ostree(t, "--repo="+ds.Repo, "config", "unset", "core.indexed-deltas")
			if _, stderr, code := repofs(t, append([]string{"--repo=" + ds.Repo}, publish...)...); code != 0 {
				t.Fatalf("%v: exit %d: %s", publish, code, stderr)
			}
			if how == "no summary" {
				if err := os.Remove(filepath.Join(ds.Repo, "summary")); err != nil {
					t.Fatal(err)
				}
			}
			srv := newLogServer(t, ds.Repo)
			client := filepath.Join(t.TempDir(), "client")
			repotest.Init(t, client, "bare-user")
			repotest.Ostree(t, "--repo="+client, "remote", "add", "--no-gpg-verify", "origin", srv.URL)
			for _, step := range []struct{ name, commit string }{{"scratch", ds.From}, {"update", ds.To}} {
				rev := "main"
				if how == "no summary" || step.name == "scratch" {
					rev = step.commit
				}
				repotest.Ostree(t, "--repo="+client, "pull", "origin", rev)
				reqs := srv.take()
				idx, sb, parts := countPaths(reqs, isIndexPath), countPaths(reqs, isSuperblockPath), countPaths(reqs, isPartPath)
				t.Logf("%s: %d requests: %d indexes, %d superblocks, %d parts", step.name, len(reqs), idx, sb, parts)
				if idx != 1 || sb != 1 || parts == 0 {
					t.Errorf("%s: ostree fetched %d delta indexes, %d superblocks and %d parts, want 1, 1 and some:\n%s", step.name, idx, sb, parts, strings.Join(reqs, "\n"))
				}
				repotest.Ostree(t, "--repo="+client, "fsck")
				want := repotest.Ostree(t, "--repo="+ds.Repo, "ls", "-R", "-C", step.commit)
				if got := repotest.Ostree(t, "--repo="+client, "ls", "-R", "-C", step.commit); got != want {
					t.Errorf("%s: ls -R differs", step.name)
				}
			}
		})
	}
}

// TestRepofsReadsOstreeBigEndianDeltas: deltas ostree generated with
// --swap-endianness (big-endian sizes on this little-endian machine) are
// shown by repofs as by ostree, applied offline, and pulled through.
func TestRepofsReadsOstreeBigEndianDeltas(t *testing.T) {
	repotest.RequireOstree(t)
	ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 30, Big: 128 << 10, Generate: []string{"--swap-endianness"}})
	name := ds.From + "-" + ds.To
	show, _, _ := repofs(t, "--repo="+ds.Repo, "static-delta", "show", name)
	if want := repotest.Ostree(t, "--repo="+ds.Repo, "static-delta", "show", name); show != want || !strings.Contains(show, "Endianness: big\n") {
		t.Errorf("repofs static-delta show:\n%s\nostree's:\n%s", show, want)
	}
	client := filepath.Join(t.TempDir(), "client")
	repotest.Init(t, client, "bare-user")
	repotest.Ostree(t, "--repo="+client, "pull-local", ds.Repo, ds.From)
	if _, stderr, code := repofs(t, "--repo="+client, "static-delta", "apply-offline", superblockOf(t, ds.Repo, name)); code != 0 {
		t.Fatalf("repofs apply-offline: exit %d: %s", code, stderr)
	}
	repotest.Ostree(t, "--repo="+client, "fsck")

	srv := newLogServer(t, ds.Repo)
	pulled := filepath.Join(t.TempDir(), "pulled")
	repotest.Init(t, pulled, "bare-user")
	repotest.Ostree(t, "--repo="+pulled, "remote", "add", "--no-gpg-verify", "origin", srv.URL)
	if _, stderr, code := repofs(t, "--repo="+pulled, "pull", "origin", "main"); code != 0 {
		t.Fatalf("repofs pull: exit %d: %s", code, stderr)
	}
	reqs := srv.take()
	if sb, parts, filez := countPaths(reqs, isSuperblockPath), countPaths(reqs, isPartPath), countPaths(reqs, isFilezPath); sb != 1 || parts == 0 || filez != 0 {
		t.Errorf("repofs pull fetched %d superblocks, %d parts, %d .filez; want 1, some, none:\n%s", sb, parts, filez, strings.Join(reqs, "\n"))
	}
	repotest.Ostree(t, "--repo="+pulled, "fsck")
}
