package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// cliCase is one invocation run by both tools; the repository path is
// prepended as --repo when the case has one.
type cliCase []string

// sameCLI runs args with ostree and repofs (in dir, with --repo=repoPath
// unless it is empty) and requires the same stdout, the same exit code and
// the same "error:" line.
func sameCLI(t *testing.T, repoPath string, args ...string) {
	t.Helper()
	full := args
	if repoPath != "" {
		full = append([]string{"--repo=" + repoPath}, args...)
	}
	want, wantErr, wantCode := repotest.RunOstree(t, full...)
	got, gotErr, gotCode := repofs(t, full...)
	name := strings.Join(args, " ")
	if got != want {
		t.Errorf("repofs %s: stdout differs from ostree's\n--- ostree\n%s\n--- repofs\n%s", name, clip(want), clip(got))
	}
	if gotCode != wantCode {
		t.Errorf("repofs %s: exit %d, ostree exit %d (stderr %q vs %q)", name, gotCode, wantCode, gotErr, wantErr)
	}
	if e, g := errorLine(wantErr), errorLine(gotErr); e != g {
		t.Errorf("repofs %s: error %q, ostree says %q", name, g, e)
	}
}

// errorLine is the first "error: " line of stderr (ostree prints its usage
// text before it for some mistakes).
func errorLine(s string) string {
	for l := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(l, "error: ") {
			return l
		}
	}
	return ""
}

// cliTree writes a source tree with every kind of entry a commit can hold,
// plus a hardlink, a binary file and a FIFO, and returns its root.
func cliTree(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	repotest.WriteTree(t, src, repotest.FixtureEntries(repotest.FixtureOpts{Wide: 20}))
	repotest.WriteTree(t, src, []repotest.Entry{
		{Path: "bin/blob", Kind: repotest.File, Data: []byte{0, 1, 2, 0xff, 0xfe, '\n', 0}},
		{Path: "xdir/attrs", Kind: repotest.Dir, Xattrs: map[string]string{"user.b": "2", "user.a": "1"}},
	})
	if err := os.Link(filepath.Join(src, "hello.txt"), filepath.Join(src, "bin/hardlink")); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestInteropChecksum(t *testing.T) {
	repotest.RequireOstree(t)
	src := cliTree(t)
	t.Chdir(src)
	cases := []cliCase{
		{"checksum", "hello.txt"},
		{"checksum", "--ignore-xattrs", "hello.txt"},
		{"checksum", "bin/hardlink"},
		{"checksum", "bin/blob"},
		{"checksum", "empty"},
		{"checksum", "big.bin"},
		{"checksum", "xdir/suid"},
		{"checksum", "owned"},
		{"checksum", "link"},
		{"checksum", "dangling"},
		{"checksum", "--ignore-xattrs", "dirlink"},
		{"checksum", "."},
		{"checksum", "emptydir"},
		{"checksum", "xdir"},
		{"checksum", "xdir/attrs"},
		{"checksum", "--ignore-xattrs", "xdir/attrs"},
		{"checksum", "sticky"},
		{"checksum", "owneddir"},
		{"checksum", src + "/with space/tab\there"},
		{"checksum", "/dev/null"},
		{"checksum"},
		{"checksum", "nope"},
		{"checksum", "--ignore-xattrs", "nope"},
		{"checksum", "hello.txt/x"},
	}
	for _, c := range cases {
		sameCLI(t, "", c...)
	}
}
