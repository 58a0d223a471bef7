package integration

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
)

// TestMountFollowsPulls moves a ref seen through a mount in two ways: with
// `repofs pull` from another process, and with the mount's own background
// --pull. It logs how long each change took to show, and checks that a
// failing pull (the server down) is logged and the mount keeps serving.
func TestMountFollowsPulls(t *testing.T) {
	repotest.RequireOstree(t)
	src := filepath.Join(t.TempDir(), "src")
	repotest.Init(t, src, "archive")
	tree := t.TempDir()
	commit := func(i int) string {
		repotest.WriteTree(t, tree, []repotest.Entry{{Path: "n", Kind: repotest.File, Data: []byte{byte('0' + i)}}})
		c := repotest.Commit(t, src, "main", tree, repotest.CommitOpts{})
		repotest.Ostree(t, "--repo="+src, "summary", "-u")
		return c
	}
	commit(0)
	var down atomic.Bool
	fs := http.FileServer(http.Dir(src))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		fs.ServeHTTP(w, r)
	}))
	defer srv.Close()

	client := filepath.Join(t.TempDir(), "client")
	for _, args := range [][]string{
		{"--repo=" + client, "init", "--mode=bare-user"},
		{"--repo=" + client, "remote", "add", "--no-gpg-verify", "origin", srv.URL},
	} {
		if _, stderr, code := repofs(t, args...); code != 0 {
			t.Fatalf("repofs %v: %s", args, stderr)
		}
	}
	mp := t.TempDir()
	cmd, stderr := startMount(t, client, mp, "refs/remotes/origin/main", "--pull=origin:main", "--interval=300ms")
	link := filepath.Join(mp, "refs/remotes/origin/main")
	waitFor := func(c string) time.Duration {
		start := time.Now()
		for {
			if target, _ := os.Readlink(link); strings.HasSuffix(target, c) {
				return time.Since(start)
			}
			if time.Since(start) > 20*time.Second {
				t.Fatalf("the mount did not show %s within 20s; stderr:\n%s", c, stderr)
			}
			time.Sleep(time.Millisecond)
		}
	}

	// The background pull.
	for i := 1; i <= 3; i++ {
		c := commit(i)
		lat := waitFor(c)
		t.Logf("background --pull: commit %d visible after %v (interval 300ms)", i, lat)
		if b, err := os.ReadFile(link + "/n"); err != nil || string(b) != string(rune('0'+i)) {
			t.Errorf("through the ref: %q %v", b, err)
		}
	}

	// Another process pulls; the mount sees the ref move at once.
	cmd.Process.Signal(syscall.SIGSTOP) // keep the mount's own pulls out of it
	c := commit(4)
	cmd.Process.Signal(syscall.SIGCONT)
	if _, stderr, code := repofs(t, "--repo="+client, "pull", "origin", "main"); code != 0 {
		t.Fatalf("repofs pull: %s", stderr)
	}
	t.Logf("repofs pull from another process: visible after %v", waitFor(c))

	// A dead server: logged, retried, and the mount keeps serving.
	down.Store(true)
	if !stderr.waitFor("background pull failed", 30*time.Second) {
		t.Fatalf("no log of the failing pull:\n%s", stderr)
	}
	if b, err := os.ReadFile(link + "/n"); err != nil || string(b) != "4" {
		t.Errorf("serving after failed pulls: %q %v", b, err)
	}
	down.Store(false)
	c = commit(5)
	waitFor(c)

	cmd.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, cmd, 20*time.Second); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, stderr)
	}
	repotest.Ostree(t, "--repo="+client, "fsck")
}
