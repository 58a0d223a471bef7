package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// refusedMount runs `repofs mount` at mp expecting a refusal: it returns
// the exit code and stderr, and fails the test if the mount is still
// running after 20 s (it mounted).
func refusedMount(t *testing.T, repoPath, mp string, extra ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"--repo=" + repoPath, "mount"}, extra...)
	cmd := exec.CommandContext(ctx, repofsBin, append(args, mp)...)
	cmd.Env = cleanEnv()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("repofs mount %s was not refused: still running after 20s; stderr:\n%s", mp, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stderr.String()
}

// TestMountpointSafety: a second mount on a mountpoint in use, and a
// mount over a non-empty directory, are refused with exit 1 and a message
// saying what to do; --nonempty mounts over the directory anyway.
func TestMountpointSafety(t *testing.T) {
	requireFUSE(t)
	repoPath, _ := testrepo.NewRepo(t, "bare-user", []repotest.Entry{{Path: "f", Kind: repotest.File, Data: []byte("f\n")}})

	mp := t.TempDir()
	first, _ := startMount(t, repoPath, mp, "refs/heads/main")
	code, stderr := refusedMount(t, repoPath, mp)
	for _, want := range []string{"already a mount", "fuse.repofs", repoPath, "umount " + mp} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("second mount on %s: exit %d, stderr %q; want 1 and a message with %q", mp, code, stderr, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(mp, "refs/heads/main/f")); err != nil || string(b) != "f\n" {
		t.Errorf("the first mount after the refusal: %q %v", b, err)
	}
	first.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, first, 10*time.Second); code != 0 {
		t.Errorf("first mount: exit %d", code)
	}

	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "precious"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr = refusedMount(t, repoPath, full)
	for _, want := range []string{"not empty", "precious", "--nonempty"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("mount over a non-empty directory: exit %d, stderr %q; want 1 and a message with %q", code, stderr, want)
		}
	}
	over, _ := startMount(t, repoPath, full, "refs/heads/main", "--nonempty")
	over.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, over, 10*time.Second); code != 0 {
		t.Errorf("--nonempty mount: exit %d", code)
	}
	if b, err := os.ReadFile(filepath.Join(full, "precious")); err != nil || string(b) != "x" {
		t.Errorf("the directory's file after the --nonempty mount: %q %v", b, err)
	}
}
