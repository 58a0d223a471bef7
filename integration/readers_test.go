package integration

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// hashTree maps every regular file under root to its SHA-256.
func hashTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = fmt.Sprintf("%x", h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	return out
}

// TestReadersDuringPulls hashes every file of a mounted commit over and
// over while 4 pulls run into the same repository: no reader may ever see
// an error or a wrong byte.
func TestReadersDuringPulls(t *testing.T) {
	repotest.RequireOstree(t)
	fx := repotest.NewFixture(t, "archive", repotest.FixtureOpts{Wide: 300})
	repotest.Ostree(t, "--repo="+fx.Repo, "summary", "-u")
	srv := httptest.NewServer(http.FileServer(http.Dir(fx.Repo)))
	defer srv.Close()
	client := filepath.Join(t.TempDir(), "client")
	for _, args := range [][]string{
		{"--repo=" + client, "init", "--mode=bare-user"},
		{"--repo=" + client, "remote", "add", "--no-gpg-verify", "origin", srv.URL},
		{"--repo=" + client, "pull", "origin", "test/main"},
	} {
		if _, stderr, code := repofs(t, args...); code != 0 {
			t.Fatalf("repofs %v: %s", args, stderr)
		}
	}
	co := filepath.Join(t.TempDir(), "co")
	repotest.Ostree(t, "--repo="+fx.Repo, "checkout", "-U", fx.Refs["test/main"], co)
	want := hashTree(t, co)

	mp := t.TempDir()
	startMount(t, client, mp, "refs/remotes/origin/test/main")
	root := filepath.Join(mp, "commits", fx.Refs["test/main"])

	// Each reader reads the whole tree over and over until it has done one
	// round that began after every pull had ended.
	var pullsDone atomic.Bool
	var rounds atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for last := false; !last; {
				last = pullsDone.Load()
				got := hashTree(t, root)
				if len(got) != len(want) {
					t.Errorf("reader saw %d files, want %d", len(got), len(want))
					return
				}
				for p, h := range want {
					if got[p] != h {
						t.Errorf("reader: %s hashes to %s, want %s", p, got[p], h)
						return
					}
				}
				rounds.Add(1)
			}
		}()
	}
	var pulls sync.WaitGroup
	for i := range 4 {
		pulls.Add(1)
		go func() {
			defer pulls.Done()
			args := [][]string{
				{"pull", "--depth=-1", "origin", "test/main"},
				{"pull", "origin", "test/other"},
				{"pull", "origin", "stable"},
				{"pull", "--depth=-1", "origin", "test/main", "test/other"},
			}[i]
			if _, stderr, code := repofs(t, append([]string{"--repo=" + client}, args...)...); code != 0 {
				t.Errorf("%v: %s", args, stderr)
			}
		}()
	}
	pulls.Wait()
	pullsDone.Store(true)
	wg.Wait()
	t.Logf("%d full-tree reads during and just after the pulls", rounds.Load())
	repotest.Ostree(t, "--repo="+client, "fsck")
}
