// Package repotest builds OSTree repositories with the real ostree CLI for
// tests: source trees with every kind of entry, commits with chosen
// metadata, and ready-made fixtures in each repository mode. Tests that use
// it compare repofs against what ostree itself wrote.
package repotest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Modes lists the repository modes ostree can create, as "ostree init
// --mode" spells them.
var Modes = []string{"archive", "bare", "bare-user", "bare-user-only"}

// RequireOstree skips the test, loudly, when the ostree CLI is missing. In
// CI (where $CI is set) a missing ostree fails the test instead: the
// interop tests must run there.
func RequireOstree(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ostree"); err != nil {
		msg := "ostree CLI not found in $PATH; interop test NOT RUN (apt-get install ostree)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("SKIP: " + msg)
	}
}

// RunOstree runs ostree with args and returns its stdout, stderr and exit
// code. It fails the test only when ostree cannot be started.
func RunOstree(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command("ostree", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "OSTREE_REPO=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run ostree %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// Ostree runs ostree with args, fails the test unless it exits 0, and
// returns its stdout.
func Ostree(t testing.TB, args ...string) string {
	t.Helper()
	out, errs, code := RunOstree(t, args...)
	if code != 0 {
		t.Fatalf("ostree %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(errs))
	}
	return out
}

// Init creates a repository of mode at path with ostree init.
func Init(t testing.TB, path, mode string) {
	t.Helper()
	Ostree(t, "--repo="+path, "init", "--mode="+mode)
}

// CommitOpts are the optional parts of a commit.
type CommitOpts struct {
	Subject, Body string
	// Timestamp is anything ostree's --timestamp accepts; empty means
	// 2024-01-01T00:00:00Z, so fixtures are reproducible.
	Timestamp string
	// Metadata become --add-metadata-string=K=V, in key order.
	Metadata map[string]string
	// Extra arguments are passed to ostree commit as they are.
	Extra []string
}

// Commit commits dir to ref of the repository at repoPath with ostree and
// returns the new commit's checksum.
func Commit(t testing.TB, repoPath, ref, dir string, o CommitOpts) string {
	t.Helper()
	ts := o.Timestamp
	if ts == "" {
		ts = "2024-01-01T00:00:00Z"
	}
	args := []string{"--repo=" + repoPath, "commit", "-b", ref, "--timestamp=" + ts, "--tree=dir=" + dir}
	if o.Subject != "" {
		args = append(args, "-s", o.Subject)
	} else {
		args = append(args, "-s", "")
	}
	if o.Body != "" {
		args = append(args, "-m", o.Body)
	}
	for _, k := range sortedKeys(o.Metadata) {
		args = append(args, fmt.Sprintf("--add-metadata-string=%s=%s", k, o.Metadata[k]))
	}
	args = append(args, o.Extra...)
	out := strings.TrimSpace(Ostree(t, args...))
	if len(out) != 64 {
		t.Fatalf("ostree commit printed %q, not a checksum", out)
	}
	return out
}

// NewRepo makes a repository of mode with ostree, commits entries to ref
// "main" in it, and returns the repository's path and the commit.
func NewRepo(t testing.TB, mode string, entries []Entry) (repoPath, commit string) {
	t.Helper()
	repoPath = filepath.Join(t.TempDir(), "repo")
	Init(t, repoPath, mode)
	src := t.TempDir()
	WriteTree(t, src, entries)
	return repoPath, Commit(t, repoPath, "main", src, CommitOpts{})
}
