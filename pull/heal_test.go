package pull

import (
	"context"
	"errors"
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

// bigSource is an archive repository with one ref, "big", whose tree is a
// single incompressible file of size bytes, served over HTTP through
// handler (nil: plainly). It counts the requests for and bytes of .filez.
type bigSource struct {
	dir      string
	srv      *httptest.Server
	filez    string        // the big object's .filez, in dir
	object   repo.Checksum // its checksum
	requests atomic.Int64  // .filez requests
	served   atomic.Int64  // .filez body bytes
}

func newBigSource(t *testing.T, size int64, handler func(w http.ResponseWriter, req *http.Request, next http.Handler)) *bigSource {
	t.Helper()
	repotest.RequireOstree(t)
	s := &bigSource{dir: filepath.Join(t.TempDir(), "src")}
	repotest.Init(t, s.dir, "archive")
	tree := t.TempDir()
	repotest.WriteTree(t, tree, []repotest.Entry{{Path: "big", Kind: repotest.File, Size: size}})
	repotest.Commit(t, s.dir, "big", tree, repotest.CommitOpts{})
	repotest.Ostree(t, "--repo="+s.dir, "summary", "-u")
	all, _ := filepath.Glob(filepath.Join(s.dir, "objects", "*", "*.filez"))
	for _, p := range all {
		if st, _ := os.Stat(p); st.Size() > size/2 {
			s.filez = p
			s.object = mustParse(t, filepath.Base(filepath.Dir(p))+strings.TrimSuffix(filepath.Base(p), ".filez"))
		}
	}
	if s.filez == "" {
		t.Fatal("no big .filez in the source")
	}
	fs := http.FileServer(http.Dir(s.dir))
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasSuffix(req.URL.Path, ".filez") {
			fs.ServeHTTP(w, req)
			return
		}
		s.requests.Add(1)
		cw := &countingWriter{ResponseWriter: w, n: &s.served}
		if handler != nil {
			handler(cw, req, fs)
			return
		}
		fs.ServeHTTP(cw, req)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// leavePartial leaves data as the partial download of the big object in an
// unlocked fetcher directory of r, as a killed pull would.
func (s *bigSource) leavePartial(t *testing.T, r *repo.Repo, data []byte) string {
	t.Helper()
	d, err := r.AllocateFetcherDir(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p := d.PartialPath(s.object)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPullLowSpeedLimit: a server that trickles fails the pull within the
// low-speed time, once, saying "too slow" and naming the URL; one that
// stops mid-body says "stalled", not "truncated".
func TestPullLowSpeedLimit(t *testing.T) {
	trickle := func(w http.ResponseWriter, req *http.Request, _ http.Handler) {
		w.Header().Set("Content-Length", "1000000")
		for req.Context().Err() == nil {
			w.Write([]byte{0})
			w.(http.Flusher).Flush()
			select {
			case <-req.Context().Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	stallMidBody := func(w http.ResponseWriter, req *http.Request, _ http.Handler) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(make([]byte, 300<<10))
		w.(http.Flusher).Flush()
		<-req.Context().Done()
	}
	for _, tc := range []struct {
		name     string
		handler  func(http.ResponseWriter, *http.Request, http.Handler)
		retries  int
		want     string
		requests int64
	}{
		{name: "trickle", handler: trickle, retries: 5, want: "too slow", requests: 1},
		{name: "stall mid-body", handler: stallMidBody, retries: -1, want: "stalled", requests: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newBigSource(t, 1<<20, tc.handler)
			r := newClient(t, repo.ModeArchive, s.srv.URL)
			start := time.Now()
			_, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"big"}, Retries: tc.retries,
				LowSpeed: LowSpeed{Bytes: 1000, Time: time.Second}})
			took := time.Since(start)
			if err == nil {
				t.Fatal("the pull succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "truncated") {
				t.Errorf("error %q does not say %q (or says truncated)", err, tc.want)
			}
			if !strings.Contains(err.Error(), s.srv.URL+"/objects/") {
				t.Errorf("error %q does not name the URL", err)
			}
			if n := s.requests.Load(); n != tc.requests {
				t.Errorf("%d requests for the object, want %d", n, tc.requests)
			}
			if took > 10*time.Second {
				t.Errorf("the pull took %v to fail with a 1 s low-speed time", took)
			}
		})
	}
}

// TestLowSpeedConfig: the remote's keys set the limit, the options win.
func TestLowSpeedConfig(t *testing.T) {
	keys := []repo.ConfigKey{{Key: "low-speed-limit-bytes", Value: "50"}, {Key: "low-speed-time-secs", Value: "7"}}
	for _, tc := range []struct {
		name string
		keys []repo.ConfigKey
		o    LowSpeed
		want LowSpeed
		fail bool
	}{
		{name: "defaults", want: LowSpeed{1000, stallTimeout}},
		{name: "remote", keys: keys, want: LowSpeed{50, 7 * time.Second}},
		{name: "options win", keys: keys, o: LowSpeed{Bytes: 9, Time: 2 * time.Second}, want: LowSpeed{9, 2 * time.Second}},
		{name: "time 0: stalls only", keys: []repo.ConfigKey{{Key: "low-speed-time-secs", Value: "0"}}, want: LowSpeed{0, stallTimeout}},
		{name: "bad", keys: []repo.ConfigKey{{Key: "low-speed-limit-bytes", Value: "fast"}}, fail: true},
	} {
		got, err := lowSpeedFrom(tc.keys, tc.o)
		if (err != nil) != tc.fail || err == nil && got != tc.want {
			t.Errorf("%s: %+v %v, want %+v (fail %v)", tc.name, got, err, tc.want, tc.fail)
		}
	}
}

// TestPullHealsPartials: what an earlier pull left in its fetcher
// directory is used when it is whole and right, resumed when it is a
// prefix, and dropped and fetched once again when its bytes are wrong.
func TestPullHealsPartials(t *testing.T) {
	const size = 1 << 20
	for _, tc := range []struct {
		name    string
		partial func(filez []byte) []byte
		notice  bool  // Options.Notice hears of a dropped partial
		maxSent int64 // most .filez bytes the server may send
		minSent int64
	}{
		{name: "complete", partial: func(b []byte) []byte { return b }, maxSent: 0},
		{name: "prefix", partial: func(b []byte) []byte { return b[:len(b)/2] }, minSent: 1, maxSent: size/2 + 64<<10},
		{name: "complete with a flipped byte", partial: func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b },
			notice: true, minSent: size, maxSent: size + 64<<10},
		{name: "prefix with a flipped byte", partial: func(b []byte) []byte { b = b[:len(b)/2]; b[len(b)/2] ^= 0x40; return b },
			notice: true, minSent: size, maxSent: 2 * size},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newBigSource(t, size, nil)
			r := newClient(t, repo.ModeArchive, s.srv.URL)
			filez, err := os.ReadFile(s.filez)
			if err != nil {
				t.Fatal(err)
			}
			partial := s.leavePartial(t, r, tc.partial(filez))
			var mu sync.Mutex
			var notices []string
			_, err = Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"big"},
				Notice: func(err error) { mu.Lock(); notices = append(notices, err.Error()); mu.Unlock() }})
			if err != nil {
				t.Fatal(err)
			}
			if sent := s.served.Load(); sent < tc.minSent || sent > tc.maxSent {
				t.Errorf("the server sent %d bytes of the object, want %d to %d", sent, tc.minSent, tc.maxSent)
			}
			if tc.notice != (len(notices) == 1) {
				t.Errorf("notices %q, want one: %v", notices, tc.notice)
			}
			for _, n := range notices {
				if !strings.Contains(n, partial) || strings.Contains(n, s.srv.URL) {
					t.Errorf("notice %q does not name the partial file %s alone", n, partial)
				}
			}
			repotest.Ostree(t, "--repo="+r.Path(), "fsck")
		})
	}
}

// TestPullFreeSpaceGuard: core.min-free-space-size that the disk cannot
// leave fails the pull before any content is fetched, in ostree's words.
func TestPullFreeSpaceGuard(t *testing.T) {
	s := newBigSource(t, 1<<20, nil)
	r := newClient(t, repo.ModeArchive, s.srv.URL)
	cfg, err := r.ReadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Set("core", "min-free-space-size", "1000000000MB")
	if err := r.WriteConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if r, err = repo.Open(r.Path()); err != nil {
		t.Fatal(err)
	}
	_, err = Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"big"}})
	if !errors.Is(err, repo.ErrNoSpace) || !strings.Contains(err.Error(), "min-free-space-size 1000000000MB would be exceeded") {
		t.Fatalf("pull: %v", err)
	}
	if n := s.requests.Load(); n != 0 {
		t.Errorf("%d content requests despite the guard", n)
	}
	// As in ostree, a disk at its reserve keeps no caches: the pull's
	// staging and fetcher directories are gone.
	if held, err := tmpdir.Usage(filepath.Join(r.Path(), "tmp")); held != 0 || err != nil {
		t.Errorf("tmp/ holds %d bytes after the guard tripped (%v)", held, err)
	}
	if !strings.HasSuffix(err.Error(), "; free space and try again") {
		t.Errorf("error %q does not end in the hint", err)
	}
}

// TestPullIntoFullDisk: a pull into a filesystem too small for it fails
// at the first attempt, saying what tmp/ holds and how to release it; once
// released and with more room, the next pull completes.
func TestPullIntoFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	const size = 4 << 20
	s := newBigSource(t, size, nil)
	mnt := t.TempDir()
	if out, err := runCmd("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { runCmd("umount", "-l", mnt) })
	r, err := repo.Init(filepath.Join(mnt, "client"), repo.ModeArchive)
	if err != nil {
		t.Fatal(err)
	}
	if err := AddRemote(context.Background(), r, "origin", s.srv.URL, AddOptions{NoGPGVerify: true}); err != nil {
		t.Fatal(err)
	}
	_, err = Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"big"}})
	if err == nil {
		t.Fatal("a 4 MiB pull into 3 MiB succeeded")
	}
	t.Log(err)
	if n := s.requests.Load(); n != 1 {
		t.Errorf("%d requests for the object: the full disk was retried", n)
	}
	for _, want := range []string{"no space left on device", "tmp/ holds", "repofs cleanup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !errors.Is(err, repo.ErrNoSpace) {
		t.Errorf("error %q is not ErrNoSpace", err)
	}
	res, err := r.ReleaseTmp(t.Context())
	if err != nil || res.Dirs == 0 || res.Bytes == 0 {
		t.Fatalf("ReleaseTmp: %+v %v", res, err)
	}
	if out, err := runCmd("mount", "-o", "remount,size=64m", mnt); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	if _, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"big"}}); err != nil {
		t.Fatal(err)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
}

func runCmd(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
