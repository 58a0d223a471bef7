package repotest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RequireFlatpak skips the test, loudly, when the flatpak CLI is missing;
// under $CI it fails instead.
func RequireFlatpak(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("flatpak"); err != nil {
		msg := "flatpak CLI not found in $PATH; Flatpak interop test NOT RUN (apt-get install flatpak)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("SKIP: " + msg)
	}
}

// Flatpak runs flatpak with args, without a session bus, and fails the
// test unless it exits 0.
func Flatpak(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("flatpak", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "DBUS_SESSION_BUS_ADDRESS=disabled:", "OSTREE_REPO=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("flatpak %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// FlatpakRepo is a Flatpak repository built by the real flatpak tools.
type FlatpakRepo struct {
	Path string
	work string
}

// NewFlatpakRepo makes an empty Flatpak repository whose plain summary
// lists only the refs of summaryArches (flatpak.summary-arches; none:
// all), as Flathub's lists only x86_64.
func NewFlatpakRepo(t testing.TB, summaryArches ...string) *FlatpakRepo {
	t.Helper()
	RequireFlatpak(t)
	RequireOstree(t)
	dir := t.TempDir()
	fr := &FlatpakRepo{Path: filepath.Join(dir, "repo"), work: dir}
	Init(t, fr.Path, "archive")
	if len(summaryArches) > 0 {
		Ostree(t, "--repo="+fr.Path, "config", "set", "flatpak.summary-arches", strings.Join(summaryArches, ";"))
	}
	return fr
}

// AppRef names the app ref Export writes.
func AppRef(id, arch, branch string) string { return "app/" + id + "/" + arch + "/" + branch }

// Export commits an app with one file, bin/hello holding content, for
// arch with build-finish and build-export (no summary update); it returns
// the commit.
func (fr *FlatpakRepo) Export(t testing.TB, id, arch, branch, content string) string {
	t.Helper()
	build, err := os.MkdirTemp(fr.work, "build-")
	if err != nil {
		t.Fatal(err)
	}
	WriteTree(t, build, []Entry{
		{Path: "files/bin/hello", Kind: File, Data: []byte(content), Mode: 0o755},
		{Path: "metadata", Kind: File, Data: fmt.Appendf(nil, "[Application]\nname=%s\nruntime=org.test.Platform/%s/%s\nsdk=org.test.Sdk/%s/%s\n", id, arch, branch, arch, branch)},
	})
	Flatpak(t, "build-finish", "--command=hello", build)
	Flatpak(t, "build-export", "--arch="+arch, "--no-update-summary", fr.Path, build, branch)
	return strings.TrimSpace(Ostree(t, "--repo="+fr.Path, "rev-parse", AppRef(id, arch, branch)))
}

// UpdateRepo runs build-update-repo: summary, summary.idx, subsummaries
// and their deltas.
func (fr *FlatpakRepo) UpdateRepo(t testing.TB) {
	t.Helper()
	Flatpak(t, "build-update-repo", "--no-update-appstream", fr.Path)
}
