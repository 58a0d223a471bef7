package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// TestInteropCommitTableOutput compares commit --table-output (and
// --generate-sizes, which only archive repositories honour) with ostree's
// on fresh and populated repositories of every mode: the counts of a
// tree all new, of one whose files are all in the repository, of one
// whose files changed owner.
func TestInteropCommitTableOutput(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			src := cliTree(t)
			empty := filepath.Join(t.TempDir(), "repo")
			repotest.Init(t, empty, mode)
			base := cloneRepo(t, empty)
			repotest.Commit(t, base, "main", src, repotest.CommitOpts{Subject: "first"})
			ts, tree := "--timestamp=2024-06-01T00:00:00Z", "--tree=dir="+src
			tarFile := goTar(t, t.TempDir(), true)
			cases := []struct {
				repo string
				args []string
			}{
				{empty, []string{"commit", "-b", "main", "--table-output", ts, tree}},
				{empty, []string{"commit", "-b", "main", "--table-output", "--generate-sizes", ts, tree}},
				{empty, []string{"commit", "--orphan", "--table-output", ts, "--tar-autocreate-parents", "--tree=tar=" + tarFile}},
				{empty, []string{"commit", "-b", "main", "--table-output", "--generate-sizes", ts, "--tar-autocreate-parents", "--tree=tar=" + tarFile, tree}},
				{base, []string{"commit", "-b", "main", "--table-output", "-s", "again", ts, tree}},
				{base, []string{"commit", "-b", "main", "--table-output", "--owner-uid=7", ts, tree}},
				{base, []string{"commit", "-b", "main", "--table-output", "--no-xattrs", "--add-detached-metadata-string=a=b", ts, tree}},
				{base, []string{"commit", "-b", "copy", "--table-output", ts, "--tree=ref=main"}},
				{base, []string{"commit", "-b", "copy", "--table-output", "--owner-uid=5", "--no-xattrs", ts, "--tree=ref=main"}},
				{base, []string{"commit", "-b", "copy", "--table-output", "--mode-ro-executables", ts, "--tree=dir=" + src, "--tree=ref=main"}},
			}
			for _, c := range cases {
				if mode == "archive" && slices.Contains(c.args, "--generate-sizes") {
					continue // TestInteropCommitGenerateSizes
				}
				a, b := cloneRepo(t, c.repo), cloneRepo(t, c.repo)
				sameWrite(t, a, b, c.args, []string{"rev-parse", "main"}, []string{"show", "--print-sizes", "main"}, []string{"fsck"})
			}
		})
	}
}

// TestInteropCommitGenerateSizes compares commit --generate-sizes in
// archive repositories with ostree's: the same commit (ostree.sizes
// included, whose archived sizes are those of zlib's streams), read back
// alike by ostree's show --print-sizes, on a tree of every kind of entry
// and on one of entries without payload.
func TestInteropCommitGenerateSizes(t *testing.T) {
	repotest.RequireOstree(t)
	ts := "--timestamp=2024-06-01T00:00:00Z"
	empty := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, empty, "archive")
	bare := t.TempDir()
	repotest.WriteTree(t, bare, []repotest.Entry{
		{Path: "e", Kind: repotest.File},
		{Path: "d/e2", Kind: repotest.File, Mode: 0o600},
		{Path: "d/dd", Kind: repotest.Dir},
		{Path: "d/l", Kind: repotest.Symlink, Target: "/nowhere"},
		{Path: "x/l", Kind: repotest.Symlink, Target: "../e"},
		{Path: "x/attrs", Kind: repotest.Dir, Xattrs: map[string]string{"user.a": "1"}},
	})
	src := cliTree(t)
	base := cloneRepo(t, empty)
	repotest.Commit(t, base, "main", src, repotest.CommitOpts{Subject: "first"})
	lowLevel := cloneRepo(t, empty)
	repotest.Ostree(t, "--repo="+lowLevel, "config", "set", "archive.zlib-level", "9")
	tarFile := goTar(t, t.TempDir(), true)
	for _, c := range []struct {
		repo string
		args []string
	}{
		{empty, []string{"commit", "-b", "main", "--generate-sizes", ts, bare}},
		{empty, []string{"commit", "-b", "main", "--generate-sizes", "--table-output", ts, src}},
		{empty, []string{"commit", "-b", "main", "--generate-sizes", "--add-metadata-string=version=1", "-s", "sized", ts, src}},
		{empty, []string{"commit", "-b", "main", "--generate-sizes", "--tar-autocreate-parents", "--tree=tar=" + tarFile, "--tree=dir=" + bare, ts}},
		{lowLevel, []string{"commit", "-b", "main", "--generate-sizes", ts, src}},
		{base, []string{"commit", "-b", "main", "--generate-sizes", "-s", "again", ts, src}},
		{base, []string{"commit", "-b", "main", "--generate-sizes", "--owner-uid=3", "--table-output", ts, src}},
		{base, []string{"commit", "-b", "main", "--generate-sizes", "--table-output", ts, "--tree=ref=main"}},
		{base, []string{"commit", "-b", "main", "--generate-sizes", ts, "--tree=dir=" + bare, "--tree=ref=main"}},
	} {
		a, b := cloneRepo(t, c.repo), cloneRepo(t, c.repo)
		sameWrite(t, a, b, c.args, []string{"rev-parse", "main"}, []string{"show", "--print-sizes", "main"},
			[]string{"show", "--print-metadata-key=ostree.sizes", "main"}, []string{"fsck"})
		sameAsOstree(t, b, "show", "--print-sizes", "main")
	}
}
