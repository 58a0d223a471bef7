package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/tmpdir"
)

// smallTmpfs mounts a tmpfs of size (as mount's size= takes it) for one
// test, or skips where that cannot be done.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

// bigTree is a directory holding one file of 4 MB that does not compress.
func bigTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	repotest.WriteTree(t, dir, []repotest.Entry{{Path: "big", Size: 4000000}, {Path: "small", Data: []byte("small\n")}})
	return dir
}

// TestCommitIntoFullDisk: a commit into a filesystem too small for it
// fails saying what tmp/ holds and how to release it, as a pull does;
// 'repofs cleanup' releases it, and with more room the commit succeeds.
func TestCommitIntoFullDisk(t *testing.T) {
	repotest.RequireOstree(t)
	mnt := smallTmpfs(t, "3m")
	tree := bigTree(t)
	repoPath := filepath.Join(mnt, "repo")
	if _, stderr, code := repofs(t, "--repo="+repoPath, "init", "--mode=bare-user"); code != 0 {
		t.Fatal(stderr)
	}
	_, stderr, code := repofs(t, "--repo="+repoPath, "commit", "-b", "main", tree)
	noPanic(t, stderr)
	if code != 1 {
		t.Fatalf("a 4 MB commit into 3 MiB: exit %d, want 1\n%s", code, stderr)
	}
	for _, want := range []string{"no space left on device", "; tmp/ holds ", "release them with 'repofs cleanup'"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
	if held, _ := tmpdir.Usage(filepath.Join(repoPath, "tmp")); held == 0 {
		t.Error("tmp/ holds nothing: the staged objects were not kept for the next commit")
	}
	if out, stderr, code := repofs(t, "--repo="+repoPath, "cleanup"); code != 0 {
		t.Fatalf("cleanup: exit %d\n%s%s", code, out, stderr)
	}
	if held, _ := tmpdir.Usage(filepath.Join(repoPath, "tmp")); held != 0 {
		t.Errorf("tmp/ holds %d bytes after cleanup", held)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	if _, stderr, code := repofs(t, "--repo="+repoPath, "commit", "-b", "main", tree); code != 0 {
		t.Fatalf("commit with room: exit %d\n%s", code, stderr)
	}
	repotest.Ostree(t, "--repo="+repoPath, "fsck")
}

// TestCommitFreeSpaceGuard: a commit that core.min-free-space-size
// refuses fails in ostree's words with the figure, and, as ostree's does,
// leaves nothing in tmp/: a disk at its reserve is not to hold caches.
func TestCommitFreeSpaceGuard(t *testing.T) {
	repotest.RequireOstree(t)
	mnt := smallTmpfs(t, "16m")
	tree := bigTree(t)
	const want = "min-free-space-size 14MB would be exceeded, at least 4.0\u00a0MB requested"
	for _, tool := range []string{"repofs", "ostree"} {
		repoPath := filepath.Join(mnt, tool)
		repotest.Init(t, repoPath, "bare-user")
		repotest.Ostree(t, "--repo="+repoPath, "config", "set", "core.min-free-space-size", "14MB")
		args := []string{"--repo=" + repoPath, "commit", "-b", "main", tree}
		var stderr string
		var code int
		if tool == "repofs" {
			_, stderr, code = repofs(t, args...)
		} else {
			_, stderr, code = ostreeCmd(t, args...)
		}
		noPanic(t, stderr)
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%s commit: exit %d, stderr %q; want 1 and %q", tool, code, stderr, want)
		}
		if tool == "repofs" && !strings.HasSuffix(strings.TrimSpace(stderr), want+"; free space and try again") {
			t.Errorf("repofs commit: stderr %q does not end in the hint", stderr)
		}
		if held, _ := tmpdir.Usage(filepath.Join(repoPath, "tmp")); held != 0 {
			t.Errorf("%s commit: tmp/ holds %d bytes after the guard tripped", tool, held)
		}
		if out := repotest.Ostree(t, "--repo="+repoPath, "refs"); out != "" {
			t.Errorf("%s commit: refs %q after a failed commit", tool, out)
		}
	}
}
