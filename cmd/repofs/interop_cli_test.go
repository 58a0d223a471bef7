package main

import (
	"os"
	"os/exec"
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
		{Path: "long/" + strings.Repeat("n", 60) + "/" + strings.Repeat("m", 60), Kind: repotest.File, Data: []byte("long name\n")},
		{Path: "long/target", Kind: repotest.Symlink, Target: strings.Repeat("../", 40) + "t"},
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

// cliFixture is a fixture repository of mode written by ostree, with the
// cliTree committed as ref "test/cli" on top of Main's history and a
// remote ref origin:rem.
func cliFixture(t *testing.T, mode string) *repotest.Fixture {
	t.Helper()
	f := repotest.NewFixture(t, mode, repotest.FixtureOpts{Wide: 30})
	c := repotest.Commit(t, f.Repo, "test/cli", cliTree(t), repotest.CommitOpts{
		Subject: "Everything", Timestamp: "2024-04-01T00:00:00Z", Extra: []string{"--parent=" + f.Refs[f.Main]}})
	f.Refs["test/cli"] = c
	f.Commits = append(f.Commits, c)
	repotest.Ostree(t, "--repo="+f.Repo, "refs", "--create=origin:rem", f.Commits[0])
	f.Refs["origin:rem"] = f.Commits[0]
	return f
}

// cloneRepo copies a repository with cp -a and returns the copy's path.
func cloneRepo(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}

// sameWrite runs args with ostree on a and with repofs on b (copies of one
// repository), requires the same output, and then runs each check with
// ostree on both, requiring the same answers.
func sameWrite(t *testing.T, a, b string, args []string, checks ...[]string) {
	t.Helper()
	want, wantErr, wantCode := repotest.RunOstree(t, append([]string{"--repo=" + a}, args...)...)
	got, gotErr, gotCode := repofs(t, append([]string{"--repo=" + b}, args...)...)
	if got != want || gotCode != wantCode || errorLine(gotErr) != errorLine(wantErr) {
		t.Errorf("%q: repofs %q %d %q, ostree %q %d %q", args, got, gotCode, gotErr, want, wantCode, wantErr)
	}
	for _, c := range checks {
		wa, wae, wac := repotest.RunOstree(t, append([]string{"--repo=" + a}, c...)...)
		ga, gae, gac := repotest.RunOstree(t, append([]string{"--repo=" + b}, c...)...)
		if wa != ga || wac != gac || errorLine(wae) != errorLine(gae) {
			t.Errorf("after %q, ostree %q: on repofs's repository %q %d %q, on ostree's %q %d %q", args, c, ga, gac, gae, wa, wac, wae)
		}
	}
}

func TestInteropReset(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := cliFixture(t, mode)
			c := f.Commits
			cases := []cliCase{
				{"reset", f.Main, c[0]},
				{"reset", f.Main, c[1][:10]},
				{"reset", f.Main, f.Main + "^^"},
				{"reset", f.Main, "stable"},           // not an ancestor: ostree takes it
				{"reset", "origin:rem", "test/other"}, // a remote ref
				{"reset", "test/cli", c[2], "extra"},
				{"reset", "nope", c[0]},
				{"reset", f.Main + "^", c[0]},
				{"reset", f.Main},
				{"reset"},
				{"reset", f.Main, "nope"},
				{"reset", f.Main, c[0] + "^"},
			}
			for _, args := range cases {
				a, b := cloneRepo(t, f.Repo), cloneRepo(t, f.Repo)
				sameWrite(t, a, b, args, []string{"refs"}, []string{"rev-parse", args[min(1, len(args)-1)]}, []string{"fsck", "-q"})
			}
			// Where ostree would point the ref at a missing commit,
			// repofs refuses and leaves it.
			missing := strings.Repeat("ab", 32)
			if _, _, code := repofs(t, "--repo="+f.Repo, "reset", f.Main, missing); code != exitError {
				t.Errorf("reset to a missing commit: exit %d", code)
			}
			if got := repotest.Ostree(t, "--repo="+f.Repo, "rev-parse", f.Main); got != c[2]+"\n" {
				t.Errorf("after a refused reset %s is %s", f.Main, got)
			}
		})
	}
}

func TestInteropRevParse(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := cliFixture(t, mode)
			one, _ := repotest.NewRepo(t, mode, []repotest.Entry{{Path: "a", Kind: repotest.File, Data: []byte("a")}})
			empty := filepath.Join(t.TempDir(), "empty")
			repotest.Init(t, empty, mode)
			sameCLI(t, one, "rev-parse", "--single")
			sameCLI(t, one, "rev-parse", "-S")
			sameCLI(t, f.Repo, "rev-parse", "--single")
			sameCLI(t, empty, "rev-parse", "--single")
			sameCLI(t, one, "rev-parse", "--single", "main")
			sameCLI(t, f.Repo, "rev-parse")
			sameCLI(t, f.Repo, "rev-parse", f.Main, "origin:rem", "rem", f.Commits[1][:8], "test/cli^")
			sameCLI(t, f.Repo, "rev-parse", f.Main, "nope", "stable")
			for _, p := range []string{"", "origin:", "origin:.", "origin:rem", "test", "test/", "test/main", "nope", "nope:x", "a b"} {
				sameAsOstree(t, f.Repo, "refs", "--list", p)
				sameAsOstree(t, f.Repo, "refs", p)
			}
		})
	}
}

func TestInteropInit(t *testing.T) {
	repotest.RequireOstree(t)
	cases := []cliCase{
		{"init", "--collection-id=org.example.Os"},
		{"init", "--mode=archive", "--collection-id=a_b.C_9"},
		{"init", "--mode=bare-user-only", "--collection-id", "org.example.Os"},
		{"init", "--collection-id="},
		{"init", "--collection-id=single"},
		{"init", "--collection-id=org.ex-ample.Os"},
		{"init", "--collection-id=org.1x"},
		{"init", "--collection-id=org..x"},
		{"init", "--mode=archive"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		want, wantErr, wantCode := repotest.RunOstree(t, append([]string{"--repo=" + a}, c...)...)
		got, gotErr, gotCode := repofs(t, append([]string{"--repo=" + b}, c...)...)
		if got != want || gotCode != wantCode || errorLine(gotErr) != errorLine(wantErr) {
			t.Errorf("%q: repofs %q %d %q, ostree %q %d %q", c, got, gotCode, gotErr, want, wantCode, wantErr)
		}
		ca, _ := os.ReadFile(filepath.Join(a, "config"))
		cb, _ := os.ReadFile(filepath.Join(b, "config"))
		if string(ca) != string(cb) {
			t.Errorf("%q: config\n--- ostree\n%s--- repofs\n%s", c, ca, cb)
		}
		if wantCode == 0 {
			sameCLI(t, b, "config", "get", "core.collection-id")
			repotest.Ostree(t, "--repo="+b, "fsck")
		}
	}
}
