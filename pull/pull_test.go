package pull

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/tmpdir"
)

// TestMain lets tests run pulls in child processes.
func TestMain(m *testing.M) {
	if spec := os.Getenv("PULL_TEST_CHILD"); spec != "" {
		parts := strings.Split(spec, "|")
		r, err := repo.Open(parts[0])
		if err == nil {
			_, err = Pull(context.Background(), r, Options{Remote: parts[1], Refs: strings.Split(parts[2], ",")})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// source is an archive repository made by ostree, served over HTTP.
type source struct {
	fx  *repotest.Fixture
	srv *httptest.Server
	// lsR maps each ref to `ostree ls -R -C REF` in the source.
	lsR map[string]string
}

func newSource(t *testing.T, wrap func(http.Handler) http.Handler) *source {
	t.Helper()
	fx := repotest.NewFixture(t, "archive", repotest.FixtureOpts{Wide: 200})
	repotest.Ostree(t, "--repo="+fx.Repo, "summary", "-u")
	var h http.Handler = http.FileServer(http.Dir(fx.Repo))
	if wrap != nil {
		h = wrap(h)
	}
	s := &source{fx: fx, srv: httptest.NewServer(h), lsR: map[string]string{}}
	t.Cleanup(s.srv.Close)
	for ref := range fx.Refs {
		s.lsR[ref] = repotest.Ostree(t, "--repo="+fx.Repo, "ls", "-R", "-C", ref)
	}
	return s
}

func newClient(t *testing.T, mode repo.Mode, url string) *repo.Repo {
	t.Helper()
	r, err := repo.Init(filepath.Join(t.TempDir(), "client"), mode)
	if err != nil {
		t.Fatal(err)
	}
	if err := AddRemote(context.Background(), r, "origin", url, AddOptions{NoGPGVerify: true}); err != nil {
		t.Fatal(err)
	}
	return r
}

// check verifies a client against the source: refs, trees, fsck by both
// tools, and no temporary directory left locked.
func (s *source) check(t *testing.T, r *repo.Repo, refs ...string) {
	t.Helper()
	for _, ref := range refs {
		c, err := r.ReadRef("origin", ref)
		if err != nil || c.String() != s.fx.Refs[ref] {
			t.Errorf("ref origin:%s = %v %v, want %s", ref, c, err, s.fx.Refs[ref])
			continue
		}
		if got := repotest.Ostree(t, "--repo="+r.Path(), "ls", "-R", "-C", "origin:"+ref); got != s.lsR[ref] {
			t.Errorf("ls -R -C origin:%s differs from the source", ref)
		}
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
	rep, err := r.Fsck(context.Background(), repo.FsckOptions{})
	if err != nil || len(rep.Problems) > 0 {
		t.Errorf("repofs fsck: %v %+v", err, rep)
	}
	ents, _ := os.ReadDir(filepath.Join(r.Path(), "tmp"))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), tmpdir.LockSuffix) {
			t.Errorf("lock left behind: tmp/%s", e.Name())
		}
	}
}

var allModes = []repo.Mode{repo.ModeArchive, repo.ModeBare, repo.ModeBareUser, repo.ModeBareUserOnly}

func TestPullEveryMode(t *testing.T) {
	repotest.RequireOstree(t)
	s := newSource(t, nil)
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			r := newClient(t, mode, s.srv.URL)
			res, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"test/main", "stable"}, Depth: -1})
			if mode == repo.ModeBareUserOnly {
				// The fixture has xattrs and setuid files, which this mode
				// cannot store (ostree drops the xattrs and leaves objects
				// that fail fsck): refuse, naming the object, and keep the
				// repository clean.
				if err == nil || !strings.Contains(err.Error(), "bare-user-only") || !strings.Contains(err.Error(), "content object ") {
					t.Fatalf("pull into bare-user-only: %v, want a clear refusal", err)
				}
				repotest.Ostree(t, "--repo="+r.Path(), "fsck")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.ContentFetched == 0 || res.MetadataFetched == 0 {
				t.Errorf("nothing counted: %+v", res.Progress)
			}
			s.check(t, r, "test/main", "stable")
			// The whole history came along.
			for _, c := range s.fx.Commits[:3] {
				if _, err := r.ReadCommit(mustParse(t, c)); err != nil {
					t.Errorf("commit %s of the history: %v", c, err)
				}
			}
			// A second pull fetches nothing.
			res, err = Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"test/main"}})
			if err != nil || res.ContentFetched != 0 {
				t.Errorf("second pull: %+v %v", res, err)
			}
		})
	}
}

func mustParse(t *testing.T, s string) repo.Checksum {
	c, err := repo.ParseChecksum(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// faults wraps a handler with random failures: 500s, 408s, connection
// resets, truncated bodies, and ignored Range headers.
func faults(seed uint64, rate float64) func(http.Handler) http.Handler {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 3))
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			mu.Lock()
			x, kind := rng.Float64(), rng.IntN(5)
			mu.Unlock()
			if x >= rate {
				h.ServeHTTP(w, req)
				return
			}
			switch kind {
			case 0:
				http.Error(w, "injected", http.StatusInternalServerError)
			case 1:
				http.Error(w, "injected", http.StatusRequestTimeout)
			case 2: // reset
				if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
					if tc, ok := c.(*net.TCPConn); ok {
						tc.SetLinger(0)
					}
					c.Close()
				}
			case 3: // truncated body: headers promise more than is sent
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				body := rec.Body.Bytes()
				if c, bw, err := w.(http.Hijacker).Hijack(); err == nil {
					fmt.Fprintf(bw, "HTTP/1.1 %d OK\r\nContent-Length: %d\r\n\r\n", rec.Code, len(body))
					bw.Write(body[:len(body)/2])
					bw.Flush()
					c.Close()
				}
			case 4: // a server that ignores Range
				req.Header.Del("Range")
				h.ServeHTTP(w, req)
			}
		})
	}
}

func TestPullSurvivesFaults(t *testing.T) {
	repotest.RequireOstree(t)
	s := newSource(t, faults(1, 0.2))
	r := newClient(t, repo.ModeBareUser, s.srv.URL)
	if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"test/main", "test/other"}, Retries: 10}); err != nil {
		t.Fatal(err)
	}
	s.check(t, r, "test/main", "test/other")
}

func TestPullDeadServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r := newClient(t, repo.ModeArchive, url)
	_, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"x"}, Retries: 1})
	if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "origin") {
		t.Errorf("dead server: %v, want an error naming the remote and URL", err)
	}
}

// TestPullCorruptObject serves one content object with a flipped byte: the
// pull fails with ErrCorrupt naming it, the ref does not move, and the
// object never reaches objects/.
func TestPullCorruptObject(t *testing.T) {
	repotest.RequireOstree(t)
	var target atomic.Value
	s := newSource(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if tgt, _ := target.Load().(string); tgt != "" && strings.HasSuffix(req.URL.Path, tgt) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				b := rec.Body.Bytes()
				b[len(b)-3] ^= 0x40
				w.Header().Set("Content-Length", fmt.Sprint(len(b)))
				w.Write(b)
				return
			}
			h.ServeHTTP(w, req)
		})
	})
	line := strings.Split(s.lsR["test/other"], "\n")[1] // a file of test/other
	f := strings.Fields(line)
	csum := f[4]
	target.Store(csum[2:] + ".filez")
	r := newClient(t, repo.ModeBareUser, s.srv.URL)
	_, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"test/other"}, Retries: 1})
	if !errors.Is(err, repo.ErrCorrupt) || !strings.Contains(err.Error(), csum) {
		t.Fatalf("pull of a corrupt object: %v, want ErrCorrupt naming %s", err, csum)
	}
	if _, err := r.ReadRef("origin", "test/other"); !errors.Is(err, repo.ErrNotFound) {
		t.Errorf("the ref moved: %v", err)
	}
	if has, _ := r.HasObject(mustParse(t, csum), repo.ObjFile); has {
		t.Error("the corrupt object reached objects/")
	}
	// Fixed server: the next pull completes.
	target.Store("")
	if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"test/other"}}); err != nil {
		t.Fatal(err)
	}
	s.check(t, r, "test/other")
}

// TestPullResumes interrupts a pull in the middle of a large object and
// checks that the next pull asks only for the rest (Range) and completes.
func TestPullResumes(t *testing.T) {
	repotest.RequireOstree(t)
	srcRepo := filepath.Join(t.TempDir(), "src")
	repotest.Init(t, srcRepo, "archive")
	tree := t.TempDir()
	const size = 20 << 20
	repotest.WriteTree(t, tree, []repotest.Entry{{Path: "big", Kind: repotest.File, Size: size}})
	repotest.Commit(t, srcRepo, "big", tree, repotest.CommitOpts{})
	repotest.Ostree(t, "--repo="+srcRepo, "summary", "-u")

	var served, ranges atomic.Int64
	slow := atomic.Bool{}
	slow.Store(true)
	fs := http.FileServer(http.Dir(srcRepo))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		if !strings.HasSuffix(req.URL.Path, ".filez") || !slow.Load() {
			cw := &countingWriter{ResponseWriter: w, n: &served}
			fs.ServeHTTP(cw, req)
			return
		}
		// Serve slowly, so the client can be cancelled halfway.
		cw := &countingWriter{ResponseWriter: w, n: &served, delay: time.Millisecond}
		fs.ServeHTTP(cw, req)
	}))
	defer srv.Close()
	r := newClient(t, repo.ModeBareUser, srv.URL)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for served.Load() < size/3 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	if _, err := Pull(ctx, r, Options{Remote: "origin", Refs: []string{"big"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted pull: %v", err)
	}
	partials, _ := filepath.Glob(filepath.Join(r.Path(), "tmp", "fetcher-*", "*.filez"))
	if len(partials) != 1 {
		t.Fatalf("partial downloads left: %v", partials)
	}
	slow.Store(false)
	before := served.Load()
	if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"big"}}); err != nil {
		t.Fatal(err)
	}
	if ranges.Load() == 0 {
		t.Error("the second pull did not resume with a Range request")
	}
	if total := served.Load(); total > 2*size || total-before > size-size/4 {
		t.Errorf("served %d bytes in all, %d after the interruption, for a %d-byte object: not resumed", total, total-before, size)
	}
	if n, _ := filepath.Glob(filepath.Join(r.Path(), "tmp", string(tmpdir.Fetcher)+"-*")); len(n) != 0 {
		t.Errorf("fetcher dirs left after a successful pull: %v", n)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
}

type countingWriter struct {
	http.ResponseWriter
	n     *atomic.Int64
	delay time.Duration
}

func (c *countingWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), 32<<10)]
		n, err := c.ResponseWriter.Write(chunk)
		c.n.Add(int64(n))
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
		if c.delay > 0 {
			if f, ok := c.ResponseWriter.(http.Flusher); ok {
				f.Flush()
			}
			time.Sleep(c.delay)
		}
	}
	return written, nil
}

// TestConcurrentPulls is the seed scenario: in each of 10 rounds, into a
// fresh repository, 6 processes pull overlapping refs from two remotes
// (one of them flaky) while 2 in-process pulls and the real ostree pull run
// too. Every ref must be right, both fscks clean, no lock left behind.
func TestConcurrentPulls(t *testing.T) {
	repotest.RequireOstree(t)
	a := newSource(t, nil)
	b := newSource(t, faults(7, 0.05))
	for round := range 10 {
		r := newClient(t, repo.ModeBareUser, a.srv.URL)
		if err := AddRemote(context.Background(), r, "second", b.srv.URL, AddOptions{NoGPGVerify: true}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errc := make(chan error, 16)
		run := func(f func() error) {
			wg.Add(1)
			go func() { defer wg.Done(); errc <- f() }()
		}
		refSets := []string{"test/main,test/other", "test/other,stable", "stable,test/main"}
		for i := range 6 {
			remote := []string{"origin", "second"}[i%2]
			refs := refSets[i%3]
			run(func() error {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "PULL_TEST_CHILD="+r.Path()+"|"+remote+"|"+refs)
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("child pull of %s from %s: %v\n%s", refs, remote, err, out)
				}
				return nil
			})
		}
		for i := range 2 {
			remote := []string{"origin", "second"}[i]
			run(func() error {
				_, err := Pull(context.Background(), r, Options{Remote: remote, Refs: []string{"test/main", "stable"}, Retries: 10})
				return err
			})
		}
		run(func() error {
			_, stderr, code := repotest.RunOstree(t, "--repo="+r.Path(), "pull", "origin", "test/other", "test/main")
			if code != 0 {
				return fmt.Errorf("ostree pull: %s", stderr)
			}
			return nil
		})
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
		a.check(t, r, "test/main", "test/other", "stable")
		for _, ref := range []string{"test/main", "test/other", "stable"} {
			if c, err := r.ReadRef("second", ref); err != nil || c.String() != b.fx.Refs[ref] {
				t.Errorf("round %d: second:%s = %v %v", round, ref, c, err)
			}
		}
		left, _ := filepath.Glob(filepath.Join(r.Path(), "tmp", "*"+tmpdir.LockSuffix))
		staging, _ := filepath.Glob(filepath.Join(r.Path(), "tmp", string(tmpdir.Staging)+"-*"))
		fetchers, _ := filepath.Glob(filepath.Join(r.Path(), "tmp", string(tmpdir.Fetcher)+"-*"))
		if len(left)+len(staging)+len(fetchers) != 0 {
			t.Errorf("round %d: left behind: %v %v %v", round, left, staging, fetchers)
		}
		if t.Failed() {
			return
		}
	}
}

// TestOstreePullsFromRepofs serves a repository written by repofs and
// pulls it with the real ostree.
func TestOstreePullsFromRepofs(t *testing.T) {
	repotest.RequireOstree(t)
	ctx := context.Background()
	src, err := repo.Init(filepath.Join(t.TempDir(), "src"), repo.ModeArchive)
	if err != nil {
		t.Fatal(err)
	}
	tree := t.TempDir()
	repotest.WriteTree(t, tree, repotest.FixtureEntries(repotest.FixtureOpts{Wide: 50}))
	tx, err := src.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root, meta, err := tx.WriteDirectory(ctx, tree, repo.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tx.WriteCommit(repo.CommitOptions{Subject: "from repofs"}, root, meta)
	if err != nil {
		t.Fatal(err)
	}
	tx.SetRef("", "main", c)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := src.UpdateSummary(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(src.Path())))
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "dst")
	repotest.Init(t, dst, "bare-user")
	repotest.Ostree(t, "--repo="+dst, "remote", "add", "--no-gpg-verify", "origin", srv.URL)
	repotest.Ostree(t, "--repo="+dst, "pull", "origin", "main")
	repotest.Ostree(t, "--repo="+dst, "fsck")
	want := repotest.Ostree(t, "--repo="+src.Path(), "ls", "-R", "-C", "main")
	if got := repotest.Ostree(t, "--repo="+dst, "ls", "-R", "-C", "origin:main"); got != want {
		t.Error("ostree's pull of a repofs repository differs from it")
	}
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// TestSummaryCache: the second pull of an unchanged remote gets a 304 for
// the summary and uses tmp/cache/summaries/REMOTE; a changed summary is
// fetched again.
func TestSummaryCache(t *testing.T) {
	repotest.RequireOstree(t)
	var mu sync.Mutex
	var statuses []int
	s := newSource(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			rec := &statusRecorder{ResponseWriter: w, status: 200}
			h.ServeHTTP(rec, req)
			if req.URL.Path == "/summary" {
				mu.Lock()
				statuses = append(statuses, rec.status)
				mu.Unlock()
			}
		})
	})
	r := newClient(t, repo.ModeArchive, s.srv.URL)
	// A Last-Modified less than a second old is not trusted as a validator.
	time.Sleep(1100 * time.Millisecond)
	for range 2 {
		if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"stable"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(r.Path(), "tmp", "cache", "summaries", "origin")); err != nil {
		t.Errorf("no cached summary: %v", err)
	}
	// A new commit changes the summary: it must be fetched, not reused.
	time.Sleep(1100 * time.Millisecond) // Last-Modified has one-second resolution
	tree := t.TempDir()
	repotest.WriteTree(t, tree, []repotest.Entry{{Path: "new", Kind: repotest.File, Data: []byte("new")}})
	c := repotest.Commit(t, s.fx.Repo, "stable", tree, repotest.CommitOpts{})
	repotest.Ostree(t, "--repo="+s.fx.Repo, "summary", "-u")
	if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"stable"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.ReadRef("origin", "stable"); got.String() != c {
		t.Errorf("after the summary changed: origin:stable = %s, want %s", got, c)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 3 || statuses[0] != 200 || statuses[1] != 304 || statuses[2] != 200 {
		t.Errorf("summary requests answered %v, want [200 304 200]", statuses)
	}
}

// TestPullFollowsRedirects: a server that redirects every object to
// another path of its own (as a mirror network's front does) is pulled
// from as one that serves them itself, each object through its redirect.
func TestPullFollowsRedirects(t *testing.T) {
	repotest.RequireOstree(t)
	var redirected, served atomic.Int64
	s := newSource(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if rest, ok := strings.CutPrefix(req.URL.Path, "/real/"); ok {
				served.Add(1)
				req.URL.Path = "/" + rest
				h.ServeHTTP(w, req)
				return
			}
			if strings.HasPrefix(req.URL.Path, "/objects/") {
				redirected.Add(1)
				http.Redirect(w, req, "/real"+req.URL.Path, http.StatusFound)
				return
			}
			h.ServeHTTP(w, req)
		})
	})
	r := newClient(t, repo.ModeBareUser, s.srv.URL)
	if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"test/main"}}); err != nil {
		t.Fatal(err)
	}
	s.check(t, r, "test/main")
	if redirected.Load() == 0 || served.Load() != redirected.Load() {
		t.Errorf("%d object requests redirected, %d served where they pointed", redirected.Load(), served.Load())
	}
}
