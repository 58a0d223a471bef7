package integration

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
)

// TestMountRetention: a mount with --pull and --keep=3 against a remote
// that publishes a new commit again and again keeps the ref's local
// history at 3 commits, while a reader reading through the ref all along
// sees no error.
func TestMountRetention(t *testing.T) {
	repotest.RequireOstree(t)
	requireFUSE(t)
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
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
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
	cmd, stderr := startMount(t, client, mp, "refs/remotes/origin/main", "--pull=origin:main", "--interval=200ms", "--keep=3")
	link := filepath.Join(mp, "refs/remotes/origin/main")

	var stop atomic.Bool
	var reads atomic.Int64
	var mu sync.Mutex
	var readErrs []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			b, err := os.ReadFile(link + "/n")
			if err != nil || len(b) != 1 {
				mu.Lock()
				readErrs = append(readErrs, err.Error())
				mu.Unlock()
			}
			reads.Add(1)
		}
	}()
	const commits = 6
	var last string
	for i := 1; i <= commits; i++ {
		last = commit(i)
		deadline := time.Now().Add(20 * time.Second)
		for {
			if target, _ := os.Readlink(link); strings.HasSuffix(target, last) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("commit %d not visible within 20s; stderr:\n%s", i, stderr)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The retention runs after the pull that moved the ref: wait for the
	// history to shrink to 3.
	history := func() int {
		out, _, _ := ostreeCmd(t, "--repo="+client, "log", "origin:main")
		return strings.Count(out, "\ncommit ") + map[bool]int{true: 1}[strings.HasPrefix(out, "commit ")]
	}
	deadline := time.Now().Add(20 * time.Second)
	for history() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("local history of origin:main is %d commits, want 3; stderr:\n%s", history(), stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if len(readErrs) > 0 {
		t.Errorf("%d of %d reads through the ref failed, first: %s", len(readErrs), reads.Load(), readErrs[0])
	}
	if !strings.Contains(stderr.String(), "msg=pruned") {
		t.Errorf("no 'pruned' log line; stderr:\n%s", stderr)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 20*time.Second); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, stderr)
	}
	repotest.Ostree(t, "--repo="+client, "fsck")
}
