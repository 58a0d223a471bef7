package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// cliRepo is a small archive repository made by the real ostree: two commits
// on "main", the second with a directory, a symlink and a nested file.
type cliRepo struct {
	path           string
	parent, commit string
}

func newCLIRepo(t *testing.T) *cliRepo {
	t.Helper()
	repotest.RequireOstree(t)
	r := &cliRepo{path: filepath.Join(t.TempDir(), "repo")}
	repotest.Init(t, r.path, "archive")
	tree := t.TempDir()
	repotest.WriteTree(t, tree, []repotest.Entry{
		{Path: "a", Kind: repotest.File, Data: []byte("hello\n"), Mode: 0o644},
	})
	r.parent = repotest.Commit(t, r.path, "main", tree, repotest.CommitOpts{
		Subject: "First", Timestamp: "2024-01-01T00:00:00Z",
	})
	repotest.WriteTree(t, tree, []repotest.Entry{
		{Path: "sub", Kind: repotest.Dir, Mode: 0o755},
		{Path: "sub/run.sh", Kind: repotest.File, Data: []byte("#!/bin/sh\necho hi\n"), Mode: 0o755},
		{Path: "link", Kind: repotest.Symlink, Target: "a"},
	})
	r.commit = repotest.Commit(t, r.path, "main", tree, repotest.CommitOpts{
		Subject: "Second", Body: "Body text", Timestamp: "2024-01-02T00:00:00Z",
	})
	return r
}

// repofsEnv runs the binary with extra environment variables.
func repofsEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(repofsBin, args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("repofs %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func TestNoRepository(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := repofs(t, "ls", "main")
	if code != 2 {
		t.Errorf("exit code %d, want 2 (usage)", code)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	for _, want := range []string{"error: no repository given", "--repo=PATH", "REPOFS_REPO", "OSTREE_REPO"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	noPanic(t, stdout, stderr)
}

func TestRepositoryFromEnvironment(t *testing.T) {
	t.Parallel()
	r := newCLIRepo(t)
	bogus := filepath.Join(t.TempDir(), "not-a-repo")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"REPOFS_REPO", []string{"REPOFS_REPO=" + r.path}, nil},
		{"OSTREE_REPO", []string{"OSTREE_REPO=" + r.path}, nil},
		{"REPOFS_REPO before OSTREE_REPO", []string{"REPOFS_REPO=" + r.path, "OSTREE_REPO=" + bogus}, nil},
		{"--repo before the environment", []string{"REPOFS_REPO=" + bogus, "OSTREE_REPO=" + bogus}, []string{"--repo=" + r.path}},
	} {
		stdout, stderr, code := repofsEnv(t, tc.env, append(tc.args, "rev-parse", "main")...)
		if code != 0 || stdout != r.commit+"\n" {
			t.Errorf("%s: rev-parse main = %q, exit %d, stderr %q; want %s", tc.name, stdout, code, stderr, r.commit)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	r := newCLIRepo(t)
	repoFlag := "--repo=" + r.path
	for _, tc := range []struct {
		name   string
		args   []string
		stderr []string // substrings stderr must hold
	}{
		{"no command", nil, []string{"usage: repofs", "Commands:"}},
		{"unknown command", []string{repoFlag, "bogus"}, []string{`error: unknown command "bogus"`, "repofs --help"}},
		{"unknown global flag", []string{"--bogus", "ls", "main"}, []string{"error:", "--bogus", "usage: repofs"}},
		{"unknown command flag", []string{repoFlag, "ls", "--bogus", "main"}, []string{"error: ls:", "--bogus", "usage: repofs ls"}},
		{"unknown short flag", []string{repoFlag, "ls", "-Z", "main"}, []string{"error: ls:", "usage: repofs ls"}},
		{"ls without REV", []string{repoFlag, "ls"}, []string{"error:", "usage: repofs ls"}},
		{"cat without PATH", []string{repoFlag, "cat", "main"}, []string{"error:", "usage: repofs cat"}},
		// rev-parse without REV fails as ostree's does (exit 1, "REV must be
		// specified"), which cmd/repofs TestInteropRevParse checks.
		{"fsck with an argument", []string{repoFlag, "fsck", "extra"}, []string{"error:", "usage: repofs fsck"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := repofs(t, tc.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2 (usage); stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			noPanic(t, stdout, stderr)
		})
	}
}

// helpCommands lists the command names the global help shows.
func helpCommands(t *testing.T, help string) []string {
	t.Helper()
	_, list, ok := strings.Cut(help, "Commands:\n")
	if !ok {
		t.Fatalf("help has no command list:\n%s", help)
	}
	var names []string
	for _, line := range strings.Split(list, "\n") {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		names = append(names, strings.Fields(line)[0])
	}
	return names
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := repofs(t, "--help")
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "usage: repofs ") {
		t.Fatalf("--help: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	cmds := helpCommands(t, stdout)
	for _, want := range []string{"ls", "cat", "refs", "log", "show", "rev-parse", "fsck"} {
		if !strings.Contains(" "+strings.Join(cmds, " ")+" ", " "+want+" ") {
			t.Errorf("--help does not list %q (lists %v)", want, cmds)
		}
	}
	for _, args := range [][]string{{"-h"}, {"help"}} {
		if out, _, code := repofs(t, args...); code != 0 || out != stdout {
			t.Errorf("%v: exit %d, output differs from --help:\n%s", args, code, out)
		}
	}
	for _, c := range cmds {
		want := "usage: repofs [--repo=PATH] " + c + " "
		for _, args := range [][]string{{c, "--help"}, {c, "-h"}, {"help", c}} {
			out, errOut, code := repofs(t, args...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, want) {
				t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 0 and stdout starting %q", args, code, errOut, out, want)
			}
		}
	}

	stdout, stderr, code = repofs(t, "--version")
	if code != 0 || stderr != "" || !regexp.MustCompile(`^repofs \S+\nmodule: github.com/repofs/repofs \S+\n(revision: [0-9a-f]{40}.*\n)?go: go\S+\n$`).MatchString(stdout) {
		t.Errorf("--version: exit %d, stdout %q, stderr %q; want \"repofs VERSION\\n\", the module, the revision, Go", code, stdout, stderr)
	}
}

// TestSameAsOstree runs repofs and ostree with the same arguments on the same
// repository and wants the same exit status, standard output and errors.
func TestSameAsOstree(t *testing.T) {
	t.Parallel()
	r := newCLIRepo(t)
	for _, tc := range []struct {
		args []string
		code int // ostree's exit status, to catch a change on its side
	}{
		{[]string{"ls", "nope"}, 1},
		{[]string{"rev-parse", "nope"}, 1},
		{[]string{"show", "nope"}, 1},
		{[]string{"log", "nope"}, 1},
		{[]string{"cat", "nope", "/a"}, 1},
		{[]string{"ls", "main", "/nonexist"}, 1},
		{[]string{"ls", "-R", "main", "/sub/nonexist"}, 1},
		{[]string{"ls", "main", "/a/b"}, 1},
		{[]string{"cat", "main", "/nope"}, 1},
		{[]string{"cat", "main", "/sub"}, 1},
		{[]string{"rev-parse", "main^^"}, 1},
		{[]string{"show", "main^^"}, 1},
		{[]string{"ls", "main^^"}, 1},
		{[]string{"ls", "-R", "main"}, 0},
		{[]string{"ls", "-R", "-C", "-X", "main"}, 0},
		{[]string{"ls", "-d", "main", "/sub", "/link"}, 0},
		{[]string{"ls", "main^"}, 0},
		{[]string{"cat", "main", "/a", "/sub/run.sh", "/link"}, 0},
		{[]string{"rev-parse", "main^"}, 0},
		{[]string{"rev-parse", r.commit[:6]}, 0},
		{[]string{"log", "main"}, 0},
		{[]string{"show", "main"}, 0},
		{[]string{"refs"}, 0},
	} {
		name := strings.Join(tc.args, " ")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--repo=" + r.path}, tc.args...)
			oOut, oErr, oCode := ostreeCmd(t, args...)
			if oCode != tc.code {
				t.Fatalf("ostree %s: exit %d, want %d (stderr %q)", name, oCode, tc.code, oErr)
			}
			out, errOut, code := repofs(t, args...)
			if code != oCode {
				t.Errorf("exit code %d, ostree's %d", code, oCode)
			}
			if out != oOut {
				t.Errorf("stdout differs\nrepofs: %q\nostree: %q", out, oOut)
			}
			if errOut != oErr {
				t.Errorf("stderr differs\nrepofs: %q\nostree: %q", errOut, oErr)
			}
			noPanic(t, out, errOut)
		})
	}
}

// TestShowMissingCommit asks for a well-formed checksum that names no
// object. ostree 2022.7 words this one differently ("Couldn't find file
// object"), so the text is the one ostree prints for a missing commit.
func TestShowMissingCommit(t *testing.T) {
	t.Parallel()
	r := newCLIRepo(t)
	zero := strings.Repeat("0", 64)
	for _, cmd := range []string{"show", "log", "ls"} {
		stdout, stderr, code := repofs(t, "--repo="+r.path, cmd, zero)
		want := "error: No such metadata object " + zero + ".commit\n"
		if code != 1 || stdout != "" || stderr != want {
			t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want 1 and %q", cmd, zero, code, stdout, stderr, want)
		}
	}
}

func TestFsckClean(t *testing.T) {
	t.Parallel()
	r := newCLIRepo(t)
	if _, stderr, code := ostreeCmd(t, "--repo="+r.path, "fsck"); code != 0 {
		t.Fatalf("ostree fsck of the fixture: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code := repofs(t, "--repo="+r.path, "fsck")
	if code != 0 || stderr != "" {
		t.Errorf("fsck: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if want := "object fsck of 2 commits completed successfully - no errors found.\n"; !strings.HasSuffix(stdout, want) {
		t.Errorf("fsck stdout does not end with %q:\n%s", want, stdout)
	}
	stdout, stderr, code = repofs(t, "--repo="+r.path, "fsck", "-q")
	if code != 0 || stdout != "" || stderr != "" {
		t.Errorf("fsck -q: exit %d, stdout %q, stderr %q; want 0 and silence", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(r.path, "state")); err == nil {
		if ents, _ := os.ReadDir(filepath.Join(r.path, "state")); len(ents) != 0 {
			t.Errorf("fsck of a clean repository left %d entries in state/", len(ents))
		}
	}
}
