package pull

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/tmpdir"
)

// killSource is an archive repository with a big file and many small ones,
// served slowly enough for a pull to be killed in the middle.
type killSource struct {
	repo        string
	srv         *httptest.Server
	served      atomic.Int64 // body bytes of .filez responses
	ranges      atomic.Int64 // requests with a Range header
	slow        atomic.Bool
	bigSize     int64
	lsR         string
	bigRef, ref string
}

// With big, its one ref "big" holds a 20 MiB file; else its one ref "many"
// holds the fixture's tree.
func newKillSource(t *testing.T, big bool) *killSource {
	t.Helper()
	ks := &killSource{repo: filepath.Join(t.TempDir(), "src"), bigSize: 20 << 20, bigRef: "big", ref: "many"}
	repotest.Init(t, ks.repo, "archive")
	if big {
		tree := t.TempDir()
		repotest.WriteTree(t, tree, []repotest.Entry{{Path: "big", Kind: repotest.File, Size: ks.bigSize}})
		repotest.Commit(t, ks.repo, ks.bigRef, tree, repotest.CommitOpts{})
	} else {
		many := t.TempDir()
		repotest.WriteTree(t, many, repotest.FixtureEntries(repotest.FixtureOpts{Wide: 300}))
		repotest.Commit(t, ks.repo, ks.ref, many, repotest.CommitOpts{})
		ks.lsR = repotest.Ostree(t, "--repo="+ks.repo, "ls", "-R", "-C", ks.ref)
	}
	repotest.Ostree(t, "--repo="+ks.repo, "summary", "-u")
	ks.slow.Store(true)
	fs := http.FileServer(http.Dir(ks.repo))
	ks.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Range") != "" {
			ks.ranges.Add(1)
		}
		if !strings.HasSuffix(req.URL.Path, ".filez") {
			fs.ServeHTTP(w, req)
			return
		}
		cw := &countingWriter{ResponseWriter: w, n: &ks.served}
		if ks.slow.Load() {
			cw.delay = time.Millisecond
		}
		fs.ServeHTTP(cw, req)
	}))
	t.Cleanup(ks.srv.Close)
	return ks
}

// startChild runs a pull of refs in a child process (see TestMain).
func startChild(t *testing.T, r *repo.Repo, refs string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PULL_TEST_CHILD="+r.Path()+"|origin|"+refs)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestPullKilledResumes SIGKILLs a pulling process while a 20 MiB object
// is a third downloaded: its fetcher directory is left unlocked, and the
// next pull (another process, as it happens) takes it over and asks only
// for the rest.
func TestPullKilledResumes(t *testing.T) {
	repotest.RequireOstree(t)
	ks := newKillSource(t, true)
	r := newClient(t, repo.ModeBareUser, ks.srv.URL)
	cmd := startChild(t, r, ks.bigRef)
	deadline := time.Now().Add(20 * time.Second)
	for ks.served.Load() < ks.bigSize/3 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	partials, _ := filepath.Glob(filepath.Join(r.Path(), "tmp", "fetcher-*", "*.filez"))
	if len(partials) != 1 {
		t.Fatalf("partial downloads after the kill: %v", partials)
	}
	ks.slow.Store(false)
	before := ks.served.Load()
	if _, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{ks.bigRef}}); err != nil {
		t.Fatal(err)
	}
	after := ks.served.Load() - before
	if ks.ranges.Load() == 0 {
		t.Error("the pull after the kill made no Range request")
	}
	if after > ks.bigSize-ks.bigSize/4 || ks.served.Load() > 2*ks.bigSize {
		t.Errorf("%d bytes before the kill, %d after, for a %d-byte object: not resumed", before, after, ks.bigSize)
	}
	if left, _ := filepath.Glob(filepath.Join(r.Path(), "tmp", string(tmpdir.Fetcher)+"-*")); len(left) != 0 {
		t.Errorf("fetcher dirs left: %v", left)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
}

// TestPullKilledAtRandom kills pulls of a many-object ref at random moments:
// after each kill the repository is fsck-clean with no ref set, and a last
// pull completes with the source's tree.
func TestPullKilledAtRandom(t *testing.T) {
	repotest.RequireOstree(t)
	ks := newKillSource(t, false) // slow: 1 ms per 32 KiB sent
	r := newClient(t, repo.ModeBareUser, ks.srv.URL)
	rng := rand.New(rand.NewPCG(42, 7))
	killed := 0
	for i := range 4 {
		cmd := startChild(t, r, ks.ref)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill once the pull has started fetching content (or ended: an
		// earlier one may have staged everything), at a random point.
		var err error
		exited := false
		for !exited && ks.served.Load() == 0 {
			select {
			case err = <-done:
				exited = true
			case <-time.After(time.Millisecond):
			}
		}
		if !exited {
			time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
			cmd.Process.Kill()
			err = <-done
		}
		if err != nil {
			killed++
		}
		ks.served.Store(0)
		if _, err := r.ReadRef("origin", ks.ref); err == nil {
			break // that one completed
		}
		rep, err := r.Fsck(context.Background(), repo.FsckOptions{})
		if err != nil || len(rep.Problems) > 0 {
			t.Fatalf("kill %d: fsck: %v %+v", i, err, rep)
		}
	}
	t.Logf("%d pulls killed", killed)
	if killed == 0 {
		t.Error("no pull was killed in the middle")
	}
	if _, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{ks.ref}}); err != nil {
		t.Fatal(err)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
	if got := repotest.Ostree(t, "--repo="+r.Path(), "ls", "-R", "-C", "origin:"+ks.ref); got != ks.lsR {
		t.Error("ls -R -C differs from the source after the kills")
	}
	if left, _ := filepath.Glob(filepath.Join(r.Path(), "tmp", "*"+tmpdir.LockSuffix)); len(left) != 0 {
		t.Errorf("lock files left: %v", left)
	}
}
