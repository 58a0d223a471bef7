package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
)

// startMount runs `repofs mount` in the background and waits until path
// (relative to the mountpoint) appears and the daemon has logged that it
// mounted: from then on none of its own threads is inside a request on its
// mount (go-fuse's start-up poll is over), so a test may kill it.
func startMount(t *testing.T, repoPath, mp, wait string, extra ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	requireFUSE(t)
	args := append([]string{"--repo=" + repoPath, "mount"}, extra...)
	cmd := exec.Command(repofsBin, append(args, mp)...)
	cmd.Env = cleanEnv()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killMount(t, cmd, mp)
		unix.Unmount(mp, unix.MNT_DETACH)
	})
	if !stderr.waitFor("msg=mounted", 15*time.Second) {
		t.Fatalf("mount did not log 'mounted' within 15s; stderr:\n%s", stderr)
	}
	shown := func() bool { _, err := os.Lstat(filepath.Join(mp, wait)); return err == nil }
	if !waitUntil(t, 15*time.Second, shown) {
		t.Fatalf("mount did not show %s within 15s; stderr:\n%s", wait, stderr)
	}
	return cmd, stderr
}

// killMount kills a mount daemon and waits for it; if it has not exited
// after 10 s it aborts the FUSE connection (a daemon killed while one of
// its own threads is inside a request on its mount cannot finish exiting)
// and reports false.
func killMount(t *testing.T, cmd *exec.Cmd, mp string) bool {
	cmd.Process.Kill()
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	select {
	case <-exited:
		return true
	case <-time.After(10 * time.Second):
		abortFuse(t, mp)
		<-exited
		return false
	}
}

// abortFuse aborts the FUSE connection mounted at mp through fusectl, so
// that nothing waiting on it hangs for ever.
func abortFuse(t *testing.T, mp string) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[4] != mp {
			continue
		}
		_, minor, _ := strings.Cut(f[2], ":")
		ctl := "/sys/fs/fuse/connections"
		if _, err := os.Stat(filepath.Join(ctl, minor)); err != nil {
			unix.Mount("none", ctl, "fusectl", 0, "")
		}
		if err := os.WriteFile(filepath.Join(ctl, minor, "abort"), []byte("1"), 0); err != nil {
			t.Logf("abort FUSE connection %s of %s: %v", minor, mp, err)
		}
	}
}

func isMounted(t *testing.T, mp string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), " "+mp+" ")
}

func waitExit(t *testing.T, cmd *exec.Cmd, within time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatal(err)
	case <-time.After(within):
		t.Fatalf("repofs mount did not exit within %v", within)
	}
	return -1
}

// TestMountLifecycle drives `repofs mount` as a user would: SIGINT unmounts
// and exits 0; a busy mount keeps serving and a second signal detaches it;
// a killed mount leaves a dead mountpoint that the next mount explains.
func TestMountLifecycle(t *testing.T) {
	repotest.RequireOstree(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, repoPath, "archive")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "hello", Kind: repotest.File, Data: []byte("hello\n")}})
	repotest.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	mp := t.TempDir()

	t.Run("sigint", func(t *testing.T) {
		cmd, stderr := startMount(t, repoPath, mp, "refs/heads/main")
		if b, err := os.ReadFile(filepath.Join(mp, "refs/heads/main/hello")); err != nil || string(b) != "hello\n" {
			t.Fatalf("read: %q %v", b, err)
		}
		cmd.Process.Signal(syscall.SIGINT)
		if code := waitExit(t, cmd, 10*time.Second); code != 0 {
			t.Errorf("exit %d after SIGINT, want 0; stderr:\n%s", code, stderr)
		}
		if isMounted(t, mp) {
			t.Error("still mounted after SIGINT")
		}
	})

	t.Run("busy", func(t *testing.T) {
		cmd, stderr := startMount(t, repoPath, mp, "refs/heads/main")
		f, err := os.Open(filepath.Join(mp, "refs/heads/main/hello"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		if !stderr.waitFor("busy", 10*time.Second) {
			t.Fatalf("no busy message; stderr:\n%s", stderr)
		}
		if !strings.Contains(stderr.String(), mp) {
			t.Errorf("the busy message does not name the mountpoint:\n%s", stderr)
		}
		buf := make([]byte, 6)
		if n, err := f.ReadAt(buf, 0); err != nil || string(buf[:n]) != "hello\n" {
			t.Errorf("busy mount stopped serving: %q %v", buf[:n], err)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if code := waitExit(t, cmd, 10*time.Second); code != 0 {
			t.Errorf("exit %d after the second signal, want 0; stderr:\n%s", code, stderr)
		}
		if isMounted(t, mp) {
			t.Error("still mounted after the lazy detach")
		}
	})

	t.Run("killed", func(t *testing.T) {
		// startMount returns once the daemon is out of go-fuse's start-up
		// poll: killed while one of its own threads is inside a request on
		// its mount, it could never finish exiting.
		cmd, _ := startMount(t, repoPath, mp, "refs/heads/main")
		if !killMount(t, cmd, mp) {
			t.Fatal("the killed mount process did not exit until its FUSE connection was aborted")
		}
		var sfs unix.Statfs_t
		if err := unix.Statfs(mp, &sfs); !errors.Is(err, syscall.ENOTCONN) {
			t.Fatalf("statfs of the killed mount: %v, want ENOTCONN", err)
		}
		out, stderr, code := repofs(t, "--repo="+repoPath, "mount", mp)
		if code != 1 || !strings.Contains(stderr, "dead FUSE mount") || !strings.Contains(stderr, "umount -l "+mp) {
			t.Errorf("mount over a dead mountpoint: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		unix.Unmount(mp, unix.MNT_DETACH)
	})
}
