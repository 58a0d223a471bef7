package integration

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
)

// TestMountPullRefusesUnverified: the background --pull of a mount whose
// remote requires OpenPGP signatures follows signed commits, refuses an
// unsigned one (the ref stays, the reason is logged) and keeps serving.
func TestMountPullRefusesUnverified(t *testing.T) {
	repotest.RequireOstree(t)
	key := repotest.NewGPGKey(t, "Sync Signer")
	src := filepath.Join(t.TempDir(), "src")
	repotest.Init(t, src, "archive")
	tree := t.TempDir()
	commit := func(i int, signed bool) string {
		repotest.WriteTree(t, tree, []repotest.Entry{{Path: "n", Kind: repotest.File, Data: []byte{byte('0' + i)}}})
		var extra []string
		if signed {
			extra = []string{"--gpg-homedir=" + key.Home, "--gpg-sign=" + key.ID}
		}
		c := repotest.Commit(t, src, "main", tree, repotest.CommitOpts{Extra: extra})
		repotest.Ostree(t, "--repo="+src, "summary", "-u")
		return c
	}
	first := commit(1, true)
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer srv.Close()

	client := filepath.Join(t.TempDir(), "client")
	for _, args := range [][]string{
		{"--repo=" + client, "init", "--mode=bare-user"},
		{"--repo=" + client, "remote", "add", "--gpg-import=" + key.Public, "origin", srv.URL},
	} {
		if _, stderr, code := repofs(t, args...); code != 0 {
			t.Fatalf("repofs %v: %s", args, stderr)
		}
	}
	mp := t.TempDir()
	cmd, stderr := startMount(t, client, mp, "refs/remotes/origin/main", "--pull=origin:main", "--interval=200ms")
	link := filepath.Join(mp, "refs/remotes/origin/main")
	if target, _ := os.Readlink(link); !strings.HasSuffix(target, first) {
		t.Fatalf("the signed commit is not shown: %q", target)
	}

	bad := commit(2, false)
	if !stderr.waitFor(bad, 20*time.Second) {
		t.Fatalf("no log of the refused commit %s:\n%s", bad, stderr)
	}
	if !strings.Contains(stderr.String(), "no signatures found") {
		t.Errorf("the log does not say why the commit was refused:\n%s", stderr)
	}
	if target, _ := os.Readlink(link); !strings.HasSuffix(target, first) {
		t.Errorf("the ref moved to an unverified commit: %q", target)
	}
	if _, err := os.Stat(filepath.Join(mp, "commits", bad)); err == nil {
		t.Errorf("the unverified commit is browsable under commits/")
	}
	if b, err := os.ReadFile(link + "/n"); err != nil || string(b) != "1" {
		t.Errorf("serving after the refusal: %q %v", b, err)
	}

	good := commit(3, true)
	shown := func() bool { target, _ := os.Readlink(link); return strings.HasSuffix(target, good) }
	if !waitUntil(t, 20*time.Second, shown) {
		t.Fatalf("the next signed commit did not show:\n%s", stderr)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, cmd, 20*time.Second); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, stderr)
	}
	repotest.Ostree(t, "--repo="+client, "fsck")
}
