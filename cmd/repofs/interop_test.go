package main

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// repofs runs the command in-process and returns stdout, stderr and the
// exit code.
func repofs(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// sameAsOstree runs one command with both tools and requires identical
// stdout, exit status and error line.
func sameAsOstree(t *testing.T, repoPath string, args ...string) {
	t.Helper()
	full := append([]string{"--repo=" + repoPath}, args...)
	want, wantErr, wantCode := repotest.RunOstree(t, full...)
	got, gotErr, gotCode := repofs(t, full...)
	if args[0] == "refs" {
		// ostree 2022.7 lists refs in hash order; repofs sorts them, as
		// ostree does since 2023.1.
		want = sortLines(want)
	}
	if got != want {
		t.Errorf("repofs %s: stdout differs from ostree's\n--- ostree\n%s\n--- repofs\n%s", strings.Join(args, " "), clip(want), clip(got))
	}
	if (gotCode == 0) != (wantCode == 0) {
		t.Errorf("repofs %s: exit %d, ostree exit %d (stderr %q vs %q)", strings.Join(args, " "), gotCode, wantCode, gotErr, wantErr)
	}
	if wantCode != 0 && firstLine(gotErr) != firstLine(wantErr) {
		t.Errorf("repofs %s: error %q, ostree says %q", strings.Join(args, " "), firstLine(gotErr), firstLine(wantErr))
	}
}

func sortLines(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	sort.Strings(lines)
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

func clip(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

func TestInteropReadPath(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := repotest.NewFixture(t, mode, repotest.FixtureOpts{Large: !testing.Short()})
			r := f.Repo
			sameAsOstree(t, r, "ls", "-R", "-C", "-X", f.Main)
			sameAsOstree(t, r, "ls", "-R", f.Main)
			sameAsOstree(t, r, "ls", "-d", f.Main, "/")
			for _, d := range f.Dirs {
				sameAsOstree(t, r, "ls", "-C", "-X", f.Main, d)
			}
			for _, p := range f.Files {
				sameAsOstree(t, r, "ls", "-X", f.Main, p)
				sameAsOstree(t, r, "cat", f.Main, p)
			}
			sameAsOstree(t, r, "log", f.Main)
			for _, c := range f.Commits {
				sameAsOstree(t, r, "show", c)
				sameAsOstree(t, r, "rev-parse", c[:12])
			}
			for ref := range f.Refs {
				sameAsOstree(t, r, "rev-parse", ref)
				sameAsOstree(t, r, "log", ref)
			}
			sameAsOstree(t, r, "refs")
			sameAsOstree(t, r, "refs", "test")
			sameAsOstree(t, r, "refs", "--list", "test")
			sameAsOstree(t, r, "rev-parse", f.Main+"^")
			sameAsOstree(t, r, "show", f.Main+"^^")
			// Errors, in ostree's words.
			sameAsOstree(t, r, "ls", "nope")
			sameAsOstree(t, r, "ls", f.Main, "/nonexistent")
			sameAsOstree(t, r, "cat", f.Main, "/nonexistent")
			sameAsOstree(t, r, "cat", f.Main, "/")
			sameAsOstree(t, r, "rev-parse", "bad name")
			sameAsOstree(t, r, "rev-parse", f.Commits[0]+"^")
		})
	}
}
