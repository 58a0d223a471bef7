package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
)

// treeLines renders a checkout for comparison: type and mode, owner,
// xattrs, link count of regular files (hardlinked or not), whether a
// directory's mtime is 0, symlink target or content.
func treeLines(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	if _, err := os.Lstat(root); err != nil {
		return []string{"(none)"}
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o owner=%d:%d%s", rel, st.Mode, st.Uid, st.Gid, xattrText(t, p))
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += fmt.Sprintf(" -> %s linked=%v", target, st.Nlink > 1)
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %x linked=%v", sha256.Sum256(b), st.Nlink > 1)
		case d.IsDir() && rel != ".":
			line += fmt.Sprintf(" mtime0=%v", st.Mtim.Sec == 0)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tmpName matches the random temporary names of a union's replacing
// renames, ostree's and repofs's: of a link, or of a copy.
// xattrText renders the xattrs of p (not following a symlink), sorted.
func xattrText(t *testing.T, p string) string {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		t.Fatalf("listxattr %s: %v", p, err)
	}
	names := strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00")
	slices.Sort(names)
	var out strings.Builder
	for _, name := range names {
		if name == "" {
			continue
		}
		v := make([]byte, 64<<10)
		k, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", p, name, err)
		}
		fmt.Fprintf(&out, " %s=%q", name, v[:k])
	}
	return out.String()
}

var tmpName = regexp.MustCompile(`(checkout-union-|tmp\.)[0-9A-Za-z]{6}`)

// TestInteropCheckoutOptions checks out with each option, over a first
// checkout where the option layers, with ostree and repofs, and compares
// output, error line, exit code and the resulting trees.
func TestInteropCheckoutOptions(t *testing.T) {
	repotest.RequireOstree(t)
	layer := t.TempDir()
	repotest.WriteTree(t, layer, []repotest.Entry{
		{Path: "hello.txt", Kind: repotest.File, Data: []byte("replaced\n")},
		{Path: "bin/blob", Kind: repotest.File, Data: []byte{9, 0, 9}},
		{Path: "new/file", Kind: repotest.File, Data: []byte("new\n")},
		{Path: ".wh.emptydir", Kind: repotest.File},
		{Path: "xdir/.wh..wh..opq", Kind: repotest.File},
		{Path: "xdir/only", Kind: repotest.File, Data: []byte("only\n")},
		// A symlink replacing the fixture's, and a new one, not root's:
		// ostree gives a copied symlink the commit's owner and xattrs
		// only where nothing was in its way.
		{Path: "link", Kind: repotest.Symlink, Target: "replaced", UID: 4321, GID: 4322, Xattrs: map[string]string{"trusted.l": "1"}},
		{Path: "newlink", Kind: repotest.Symlink, Target: "hello.txt", UID: 4321, GID: 4322, Xattrs: map[string]string{"trusted.n": "2"}},
	})
	// layer3's whiteouts come after files of the same layer they name
	// (names sort before ".wh."): ostree writes those, then removes them.
	layer3 := t.TempDir()
	repotest.WriteTree(t, layer3, []repotest.Entry{
		{Path: "-x", Kind: repotest.File, Data: []byte("gone\n")},
		{Path: ".wh.-x", Kind: repotest.File},
		{Path: ".a", Kind: repotest.File, Data: []byte("gone too\n")},
		{Path: ".wh..a", Kind: repotest.File},
		{Path: ".wh.hello.txt", Kind: repotest.File},
		{Path: "hello.txt", Kind: repotest.File, Data: []byte("after its whiteout\n")},
		{Path: ".wh.link", Kind: repotest.Symlink, Target: "a symlink is no whiteout"},
	})
	// layer2 puts a file and a symlink where the fixture has directories.
	layer2 := t.TempDir()
	repotest.WriteTree(t, layer2, []repotest.Entry{
		{Path: "sticky", Kind: repotest.File, Data: []byte("was a dir\n")},
		{Path: "owneddir", Kind: repotest.Symlink, Target: "sticky"},
	})
	skip := filepath.Join(t.TempDir(), "skip")
	if err := os.WriteFile(skip, []byte("/hello.txt\n/bin/\n/nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pairs := filepath.Join(t.TempDir(), "pairs")
	if err := os.WriteFile(pairs, []byte("test/cli\x00/deep\x00layer\x00/new\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	badPairs := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(badPairs, []byte("test/cli\x00/deep\x00layer\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		first string // a rev checked out to DEST first, or ""
		args  []string
	}{
		{"", []string{"test/cli"}},
		{"test/cli", []string{"test/cli"}},
		{"test/cli", []string{"--union", "layer"}},
		{"test/cli", []string{"--union-add", "layer"}},
		{"test/cli", []string{"--union-identical", "-H", "test/cli"}},
		{"test/cli", []string{"--union-identical", "-H", "layer"}},
		{"test/cli", []string{"--union-identical", "layer"}},
		{"test/cli", []string{"--union", "--union-add", "layer"}},
		{"test/cli", []string{"--union", "--whiteouts", "layer"}},
		{"", []string{"--whiteouts", "layer"}},
		{"", []string{"--allow-noent", "--subpath=/nope", "test/cli"}},
		{"", []string{"--allow-noent", "-C", "--subpath=/nope", "test/cli"}},
		{"", []string{"--subpath=/nope", "test/cli"}},
		{"", []string{"--subpath=/hello.txt", "test/cli"}},
		{"", []string{"-H", "test/cli"}},
		{"", []string{"-H", "-U", "test/cli"}},
		{"", []string{"-H", "-C", "test/cli"}},
		{"", []string{"-C", "test/cli"}},
		{"", []string{"-M", "test/cli"}},
		{"", []string{"--skip-list=" + skip, "test/cli"}},
		{"", []string{"--skip-list=/nonexistent", "test/cli"}},
		{"", []string{"--from-file=" + pairs}},
		{"", []string{"--from-file=" + badPairs}},
		{"", []string{"--from-file=/nonexistent"}},
		{"test/cli", []string{"--union", "-U", "layer"}},
		{"test/cli", []string{"--union", "-U", "test/cli"}},
		{"test/cli", []string{"--union-add", "-U", "layer"}},
		{"test/cli", []string{"--union", "layer2"}},
		{"test/cli", []string{"--union", "--whiteouts", "layer2"}},
		{"test/cli", []string{"--union-add", "layer2"}},
		{"", []string{"--whiteouts", "layer3"}},
		{"test/cli", []string{"--union", "--whiteouts", "layer3"}},
		{"test/cli", []string{"--whiteouts", "layer3"}},
		{"layer", []string{"--union", "layer3"}},
	}
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			f := cliFixture(t, mode)
			repotest.Commit(t, f.Repo, "layer", layer, repotest.CommitOpts{Subject: "layer", Timestamp: "2024-04-02T00:00:00Z"})
			repotest.Commit(t, f.Repo, "layer2", layer2, repotest.CommitOpts{Subject: "layer2", Timestamp: "2024-04-03T00:00:00Z"})
			repotest.Commit(t, f.Repo, "layer3", layer3, repotest.CommitOpts{Subject: "layer3", Timestamp: "2024-04-04T00:00:00Z"})
			for _, c := range cases {
				if mode == "bare-user-only" && (slices.Contains(c.args, "layer") || slices.Contains(c.args, "layer2") || slices.Contains(c.args, "layer3")) {
					continue
				}
				a, b := filepath.Join(t.TempDir(), "co"), filepath.Join(t.TempDir(), "co")
				if c.first != "" {
					repotest.Ostree(t, "--repo="+f.Repo, "checkout", c.first, a)
					repotest.Ostree(t, "--repo="+f.Repo, "checkout", c.first, b)
				}
				want, wantErr, wantCode := repotest.RunOstree(t, append([]string{"--repo=" + f.Repo, "checkout"}, append(c.args, a)...)...)
				got, gotErr, gotCode := repofs(t, append([]string{"--repo=" + f.Repo, "checkout"}, append(c.args, b)...)...)
				name := strings.Join(c.args, " ")
				// Temporary names for a union's replacing rename are random.
				wantErr = tmpName.ReplaceAllString(wantErr, "${1}XXXXXX")
				gotErr = tmpName.ReplaceAllString(gotErr, "${1}XXXXXX")
				if got != want || gotCode != wantCode || errorLine(gotErr) != errorLine(wantErr) {
					t.Errorf("checkout %s: repofs %q %d %q, ostree %q %d %q", name, got, gotCode, errorLine(gotErr), want, wantCode, errorLine(wantErr))
				}
				if g, w := treeLines(t, b), treeLines(t, a); !slices.Equal(g, w) {
					t.Errorf("checkout %s: tree differs from ostree's\n--- ostree\n%s\n--- repofs\n%s", name, strings.Join(w, "\n"), strings.Join(g, "\n"))
				}
			}
		})
	}
}

// TestCheckoutFromStdin: --from-stdin reads the pairs --from-file does,
// with the same result as ostree's --from-file.
func TestCheckoutFromStdin(t *testing.T) {
	repotest.RequireOstree(t)
	f := cliFixture(t, "bare")
	pairs := filepath.Join(t.TempDir(), "pairs")
	if err := os.WriteFile(pairs, []byte("test/cli\x00/deep\x00test/cli\x00/bin\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(t.TempDir(), "co"), filepath.Join(t.TempDir(), "co")
	repotest.Ostree(t, "--repo="+f.Repo, "checkout", "--union", "--from-file="+pairs, a)
	in, err := os.Open(pairs)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	saved := os.Stdin
	os.Stdin = in
	_, gotErr, code := repofs(t, "--repo="+f.Repo, "checkout", "--union", "--from-stdin", b)
	os.Stdin = saved
	if code != 0 {
		t.Fatalf("repofs checkout --from-stdin: exit %d: %s", code, gotErr)
	}
	if g, w := treeLines(t, b), treeLines(t, a); !slices.Equal(g, w) || len(g) < 3 {
		t.Errorf("checkout --from-stdin differs from ostree's --from-file\n--- ostree\n%s\n--- repofs\n%s", strings.Join(w, "\n"), strings.Join(g, "\n"))
	}
}
