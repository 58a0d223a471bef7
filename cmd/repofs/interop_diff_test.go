package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"golang.org/x/sys/unix"
)

func TestInteropDiff(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) { // not parallel: "./DIR" needs a working directory
			f := cliFixture(t, mode)
			c := f.Commits
			// A checkout of test/cli, then changed in every way a diff
			// sees, next to an unchanged one.
			parent := t.TempDir()
			same := filepath.Join(parent, "same")
			repotest.Ostree(t, "--repo="+f.Repo, "checkout", "test/cli", same)
			changed := filepath.Join(parent, "changed")
			repotest.Ostree(t, "--repo="+f.Repo, "checkout", "test/cli", changed)
			changeTree(t, changed)
			t.Chdir(parent)
			cases := []cliCase{
				{"diff", f.Main},
				{"diff", "test/cli"},
				{"diff", c[0], "test/cli"},
				{"diff", "test/cli", c[0]},
				{"diff", "stable", "test/cli"},
				{"diff", "test/cli", "test/cli"},
				{"diff", "--no-xattrs", c[1], "test/cli"},
				{"diff", "--stats", c[0], "test/cli"},
				{"diff", "--stats", "--fs-diff", c[1], f.Main},
				{"diff", "test/cli", "./same"},
				{"diff", "test/cli", same},
				{"diff", "test/cli", "./changed"},
				{"diff", "./changed", "test/cli"},
				{"diff", "./same", "./changed"},
				{"diff", "--no-xattrs", "test/cli", "./changed"},
				{"diff", "--owner-uid=0", "--owner-gid=0", "test/cli", "./changed"},
				{"diff", "--owner-uid=4242", "test/cli", "./same"},
				{"diff", "--owner-gid=1000", "--no-xattrs", c[0], "./same"},
				{"diff"},
				{"diff", "nope"},
				{"diff", c[0]},
				{"diff", f.Main, "nope"},
				{"diff", "test/cli", "./missing"},
				{"diff", "--stats", "test/cli", "./same"},
			}
			for _, args := range cases {
				sameCLI(t, f.Repo, args...)
			}
		})
	}
}

// changeTree modifies a checkout: content, mode, owner, xattrs, kind,
// removals and additions, at several depths.
func changeTree(t *testing.T, root string) {
	t.Helper()
	p := func(s string) string { return filepath.Join(root, s) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(p("hello.txt"), []byte("changed\n"), 0o644))
	must(os.Chmod(p("bin/run.sh"), 0o700))
	must(os.Lchown(p("empty"), 7, 7))
	must(unix.Lsetxattr(p(".hidden"), "user.new", []byte("x"), 0))
	must(os.RemoveAll(p("deep/a/b")))
	must(os.Remove(p("link")))
	must(os.Mkdir(p("link"), 0o755))
	must(os.WriteFile(p("link/inside"), nil, 0o644))
	must(os.Remove(p("dangling")))
	must(os.Symlink("elsewhere", p("dangling")))
	must(os.MkdirAll(p("new/dir/deeper"), 0o755))
	must(os.WriteFile(p("new/dir/f"), []byte("f"), 0o644))
	must(os.WriteFile(p("deep/added"), []byte("a"), 0o644))
	must(os.Chmod(p("emptydir"), 0o700))
	must(os.RemoveAll(p("xdir")))
	must(os.WriteFile(p("xdir"), []byte("now a file"), 0o644))
	// More than GLib's 1000-entry enumeration chunk.
	must(os.Mkdir(p("many"), 0o755))
	for i := range 1500 {
		must(os.WriteFile(p(fmt.Sprintf("many/%d", i)), nil, 0o644))
	}
}
