package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// TestInteropRefsAlias runs one sequence of refs --alias commands (and
// reads through the aliases) with ostree on one copy of a repository and
// with repofs on another: each step's stdout, error line and exit code
// must be ostree's, and after each step both repositories must hold the
// same refs/heads links and answer ostree's rev-parse and refs alike.
func TestInteropRefsAlias(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := cliFixture(t, mode)
			base := cloneRepo(t, f.Repo)
			repotest.Ostree(t, "--repo="+base, "refs", "--create=os/other", f.Commits[0])
			a, b := cloneRepo(t, base), cloneRepo(t, base)
			steps := [][]string{
				{"refs", "--alias", "--create=stable", "test/cli"},
				{"refs", "--alias", "--create=deep/er/al", "os/other"},
				{"refs", "--alias", "--create=chain", "stable"},
				{"refs", "--alias"},
				{"refs", "--alias", "deep"},
				{"refs", "--alias", "--list", "deep"},
				{"refs", "--alias", "stable"},
				{"refs", "--alias", "test"},
				{"refs", "-A", "nope"},
				{"refs", "--alias", "origin:"},
				{"refs", "--alias", "origin:."},
				{"refs", "--alias", "origin:rem"},
				{"refs", "--alias", "nope:x"},
				{"refs"},
				{"refs", "--list", "deep"},
				{"rev-parse", "stable"},
				{"rev-parse", "chain"},
				{"rev-parse", "deep/er/al"},
				{"log", "chain"},
				{"show", "deep/er/al"},
				{"ls", "-R", "stable"},
				{"checkout", "chain"},
				{"refs", "--alias", "--create=x", "nope"},
				{"refs", "--alias", "--create=x", f.Commits[0]},
				{"refs", "--alias", "--create=origin:x", "test/cli"},
				{"refs", "--alias", "--create=os/other", "test/cli"},
				{"refs", "--alias", "--create=x"},
				{"refs", "--alias", "--create=x", "a", "b"},
				{"refs", "--alias", "--create=stable", "os/other"},
				{"rev-parse", "chain"},
				{"refs", "--delete", "os/other"},
				{"refs", "--delete", "stable"},
				{"refs", "--delete", "deep"},
				{"refs", "--create=chain", "--force", "test/cli"},
				{"refs", "--delete", "stable"},
				{"refs", "--alias"},
				{"refs", "--alias", "--force", "--create=os/other", "test/cli"},
				{"rev-parse", "os/other"},
				{"refs", "--alias", "--create=loop", "chain"},
				{"refs", "--alias", "--force", "--create=chain", "loop"},
				{"refs", "--alias", "--create=more", "chain"},
				{"rev-parse", "loop"},
				{"log", "loop"},
				{"checkout", "loop"},
				{"refs", "--alias", "loop"},
				{"refs", "--delete", "loop"},
				{"refs", "--alias"},
			}
			for _, s := range steps {
				if s[0] == "checkout" {
					// Each tool checks out the alias; the trees must agree.
					da, db := filepath.Join(t.TempDir(), "co"), filepath.Join(t.TempDir(), "co")
					_, wantErr, wantCode := repotest.RunOstree(t, "--repo="+a, "checkout", "-U", s[1], da)
					_, gotErr, gotCode := repofs(t, "--repo="+b, "checkout", "-U", s[1], db)
					if gotCode != wantCode || errorLine(gotErr) != errorLine(wantErr) {
						t.Errorf("checkout %s: repofs exit %d %q, ostree %d %q", s[1], gotCode, gotErr, wantCode, wantErr)
					}
					if la, lb := strings.Join(treeLines(t, da), "\n"), strings.Join(treeLines(t, db), "\n"); la != lb {
						t.Errorf("checkout %s: repofs's tree differs from ostree's", s[1])
					}
					continue
				}
				want, wantErr, wantCode := repotest.RunOstree(t, append([]string{"--repo=" + a}, s...)...)
				got, gotErr, gotCode := repofs(t, append([]string{"--repo=" + b}, s...)...)
				if s[0] == "refs" {
					// ostree 2022.7 lists refs in hash order.
					want = sortLines(want)
				}
				if got != want || gotCode != wantCode || errorLine(gotErr) != errorLine(wantErr) {
					t.Errorf("%q: repofs %q %d %q, ostree %q %d %q", s, clip(got), gotCode, gotErr, clip(want), wantCode, wantErr)
				}
				if la, lb := headLinks(t, a), headLinks(t, b); la != lb {
					t.Errorf("after %q: refs/heads links of repofs\n%s\nof ostree\n%s", s, lb, la)
				}
				for _, c := range [][]string{{"refs", "--alias"}, {"rev-parse", "stable"}, {"rev-parse", "chain"}} {
					wa, wae, wac := repotest.RunOstree(t, append([]string{"--repo=" + a}, c...)...)
					ga, gae, gac := repotest.RunOstree(t, append([]string{"--repo=" + b}, c...)...)
					if sortLines(wa) != sortLines(ga) || wac != gac || errorLine(wae) != errorLine(gae) {
						t.Errorf("after %q, ostree %q: on repofs's repository %q %d %q, on ostree's %q %d %q", s, c, ga, gac, gae, wa, wac, wae)
					}
				}
			}
		})
	}
}

// headLinks lists the symbolic links under refs/heads with their targets.
func headLinks(t *testing.T, repoPath string) string {
	t.Helper()
	var b strings.Builder
	root := filepath.Join(repoPath, "refs", "heads")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Type()&os.ModeSymlink == 0 {
			return err
		}
		l, err := os.Readlink(p)
		rel, _ := filepath.Rel(root, p)
		b.WriteString(rel + " -> " + l + "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
