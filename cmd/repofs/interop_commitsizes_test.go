package main

import (
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
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
			}
			for _, c := range cases {
				if mode == "archive" && slices.Contains(c.args, "--generate-sizes") {
					continue // TestInteropCommitGenerateSizes
				}
				if mode == "bare-user-only" && slices.Contains(c.args, "--tree=ref=main") {
					// ostree walks the tree again (it drops xattrs),
					// counting every object; repofs takes it whole.
					continue
				}
				a, b := cloneRepo(t, c.repo), cloneRepo(t, c.repo)
				sameWrite(t, a, b, c.args, []string{"rev-parse", "main"}, []string{"show", "--print-sizes", "main"}, []string{"fsck"})
			}
		})
	}
}

// TestInteropCommitGenerateSizes compares commit --generate-sizes in
// archive repositories with ostree's. A tree whose files compress to
// nothing (symlinks, empty files) gets ostree's very commit. Otherwise
// each entry of ostree.sizes is ostree's but for the archived size of a
// file with a payload, which is that of repofs's own .filez (its DEFLATE
// stream is not zlib's); ostree reads the sizes back with show
// --print-sizes.
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
	base := cloneRepo(t, empty)
	repotest.Commit(t, base, "main", bare, repotest.CommitOpts{Subject: "first"})
	for _, c := range []struct {
		repo string
		args []string
	}{
		{empty, []string{"commit", "-b", "main", "--generate-sizes", ts, bare}},
		{empty, []string{"commit", "-b", "main", "--generate-sizes", "--table-output", "--add-metadata-string=version=1", ts, bare}},
		{base, []string{"commit", "-b", "main", "--generate-sizes", "-s", "again", ts, bare}},
		{base, []string{"commit", "-b", "main", "--generate-sizes", "--owner-uid=3", ts, bare}},
		{base, []string{"commit", "-b", "main", "--generate-sizes", ts, "--tree=ref=main"}},
	} {
		if slices.Contains(c.args, "--tree=ref=main") {
			// ostree rewrites the tree to measure it; repofs refuses.
			got, _, code := repofs(t, append([]string{"--repo=" + cloneRepo(t, c.repo)}, c.args...)...)
			if code == 0 {
				t.Errorf("%q: repofs %q, exit 0; want a refusal", c.args, got)
			}
			continue
		}
		a, b := cloneRepo(t, c.repo), cloneRepo(t, c.repo)
		sameWrite(t, a, b, c.args, []string{"rev-parse", "main"}, []string{"show", "--print-sizes", "main"},
			[]string{"show", "--print-metadata-key=ostree.sizes", "main"}, []string{"fsck"})
	}

	src := cliTree(t)
	a, b := cloneRepo(t, empty), cloneRepo(t, empty)
	args := []string{"commit", "-b", "main", "--generate-sizes", "--table-output", ts, src}
	want, _, wantCode := repotest.RunOstree(t, append([]string{"--repo=" + a}, args...)...)
	got, gotErr, gotCode := repofs(t, append([]string{"--repo=" + b}, args...)...)
	if gotCode != 0 || wantCode != 0 {
		t.Fatalf("%q: repofs exit %d %q, ostree exit %d", args, gotCode, gotErr, wantCode)
	}
	// The counts are ostree's; the commit differs by the archived sizes.
	_, wantRest, _ := strings.Cut(want, "\n")
	_, gotRest, _ := strings.Cut(got, "\n")
	if gotRest != wantRest {
		t.Errorf("%q: repofs counts\n%s\nostree's\n%s", args, gotRest, wantRest)
	}
	ws, gs := commitSizes(t, a), commitSizes(t, b)
	if len(ws) != len(gs) {
		t.Fatalf("ostree.sizes: repofs has %d entries, ostree %d", len(gs), len(ws))
	}
	files := 0
	for i, w := range ws {
		g := gs[i]
		if w.Type == repo.ObjFile && w.Unpacked > 0 && g.Checksum == w.Checksum && g.Type == w.Type && g.Unpacked == w.Unpacked {
			files++
			h := g.Checksum.String()
			st, err := os.Stat(filepath.Join(b, "objects", h[:2], h[2:]+".filez"))
			if err != nil {
				t.Fatal(err)
			}
			if uint64(st.Size()) != g.Archived {
				t.Errorf("ostree.sizes of %s: archived %d, its .filez has %d bytes", h, g.Archived, st.Size())
			}
			continue
		}
		if g != w {
			t.Errorf("ostree.sizes entry %d: repofs %+v, ostree %+v", i, g, w)
		}
	}
	if files == 0 {
		t.Error("ostree.sizes: no file with a payload")
	}
	// ostree reads repofs's sizes: the totals but the compressed one are its own.
	wp := repotest.Ostree(t, "--repo="+a, "show", "--print-sizes", "main")
	gp := repotest.Ostree(t, "--repo="+b, "show", "--print-sizes", "main")
	if _, w, _ := strings.Cut(wp, "\n"); !strings.HasSuffix(gp, w) {
		t.Errorf("ostree show --print-sizes: of repofs's commit\n%s\nof ostree's\n%s", gp, wp)
	}
	sameAsOstree(t, b, "show", "--print-sizes", "main")
}

// commitSizes decodes the ostree.sizes of the commit of ref main.
func commitSizes(t *testing.T, repoPath string) []repo.ObjectSize {
	t.Helper()
	r, err := repo.Open(repoPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.ResolveRev("main")
	if err != nil {
		t.Fatal(err)
	}
	commit, err := r.ReadCommit(c)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := commit.Metadata.Lookup("ostree.sizes")
	if !ok {
		t.Fatalf("%s: commit %s has no ostree.sizes", repoPath, c)
	}
	val, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	var out []repo.ObjectSize
	for _, e := range val.Elems {
		b := e.Bytes
		oc, err := repo.ParseChecksum(hex.EncodeToString(b[:32]))
		if err != nil {
			t.Fatal(err)
		}
		b = b[32:]
		arch, n := binary.Uvarint(b)
		b = b[n:]
		unp, n := binary.Uvarint(b)
		b = b[n:]
		if len(b) != 1 {
			t.Fatalf("ostree.sizes entry of %s: %d bytes after the sizes", oc, len(b))
		}
		out = append(out, repo.ObjectSize{Checksum: oc, Type: repo.ObjectType(b[0]), Archived: arch, Unpacked: unp})
	}
	return out
}
