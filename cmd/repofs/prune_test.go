package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
)

// TestPruneLikeOstree runs each prune option on two identical copies of a
// repository with branching history, one pruned by ostree and one by
// repofs, and requires the same output, exit status, files left (objects,
// commitmeta, commitpartial markers, tombstones, deltas, config) and a
// clean ostree fsck.
func TestPruneLikeOstree(t *testing.T) {
	repotest.RequireOstree(t)
	t.Setenv("TZ", "UTC")
	for _, mode := range []string{"archive", "bare-user"} {
		h := repotest.NewHistory(t, mode)
		day4 := time.Date(2024, 1, 4, 0, 0, 0, 0, time.UTC).Unix()
		cases := [][]string{
			{},
			{"--no-prune"},
			{"--refs-only"},
			{"--refs-only", "--depth=0"},
			{"--refs-only", "--depth=2"},
			{"--no-prune", "--refs-only", "--depth=0"},
			{"--depth=0"},
			{"--commit-only"},
			{"--refs-only", "--commit-only", "--depth=1"},
			{"--delete-commit=" + h.Orphan},
			{"--delete-commit=" + h.Main[0], "--refs-only"},
			{"--delete-commit=" + h.Main[5]},
			{"--delete-commit=" + strings.Repeat("ab", 32)},
			{"--delete-commit=" + h.Main[1], "--static-deltas-only"},
			{"--static-deltas-only"},
			{"--keep-younger-than=2024-01-04"},
			{fmt.Sprintf("--keep-younger-than=@%d", day4+1)},
			{"--keep-younger-than=2024-01-04", "--commit-only"},
			{"--only-branch=main", "--depth=1"},
			{"--only-branch=side", "--only-branch=main", "--depth=0"},
			{"--only-branch=side", "--depth=0", "--retain-branch-depth=main=2"},
			{"--retain-branch-depth=main=0", "--retain-branch-depth=side=1", "--retain-branch-depth=origin:main=0"},
			{"--retain-branch-depth=main"},
			{"--only-branch=nosuchref"},
		}
		for _, args := range cases {
			t.Run(mode+"/"+strings.Join(args, " "), func(t *testing.T) {
				theirs, ours := copyRepo(t, h.Path), copyRepo(t, h.Path)
				full := append([]string{"prune"}, args...)
				want, wantErr, wantCode := repotest.RunOstree(t, append([]string{"--repo=" + theirs}, full...)...)
				got, gotErr, gotCode := repofs(t, append([]string{"--repo=" + ours}, full...)...)
				if got != want {
					t.Errorf("stdout differs\n--- ostree\n%s--- repofs\n%s", want, got)
				}
				if (gotCode == 0) != (wantCode == 0) {
					t.Fatalf("repofs exit %d (%q), ostree exit %d (%q)", gotCode, gotErr, wantCode, wantErr)
				}
				if wantCode != 0 && firstLine(gotErr) != firstLine(wantErr) {
					t.Errorf("repofs error %q, ostree %q", firstLine(gotErr), firstLine(wantErr))
				}
				if w, g := repoFiles(t, theirs), repoFiles(t, ours); w != g {
					t.Errorf("files left differ\n--- ostree\n%s--- repofs\n%s", w, g)
				}
				repotest.Ostree(t, "--repo="+ours, "fsck", "-q")
			})
		}
	}
}

// copyRepo copies a repository with cp -a (keeping xattrs and owners).
func copyRepo(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v: %s", src, dst, err, out)
	}
	return dst
}

// repoFiles lists what a prune may change: every file under objects/,
// state/, deltas/ and refs/, and the config's content.
func repoFiles(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	for _, top := range []string{"objects", "state", "deltas", "refs"} {
		filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				lines = append(lines, rel)
			}
			return nil
		})
	}
	sort.Strings(lines)
	cfg, err := os.ReadFile(filepath.Join(root, "config"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n") + "\n" + string(cfg)
}
