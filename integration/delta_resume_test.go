package integration

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/tmpdir"
)

// partServer serves a repository; its delta part is cut after half its
// bytes while cut is set (the response then hangs until the client goes),
// and every byte of it sent and every Range asked for is recorded.
type partServer struct {
	*httptest.Server
	part     string // URL path of the part
	cut      atomic.Bool
	halfSent chan struct{}
	once     sync.Once
	sent     atomic.Int64
	mu       sync.Mutex
	ranges   []string
}

func newPartServer(t *testing.T, dir, part string) *partServer {
	s := &partServer{part: part, halfSent: make(chan struct{})}
	s.cut.Store(true)
	files := http.FileServer(http.Dir(dir))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != s.part {
			files.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		s.mu.Unlock()
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(part)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if !s.cut.Load() {
			http.ServeContent(&partCountingWriter{w, &s.sent}, r, "part", time.Time{}, bytes.NewReader(data))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		n, _ := w.Write(data[:len(data)/2])
		s.sent.Add(int64(n))
		w.(http.Flusher).Flush()
		s.once.Do(func() { close(s.halfSent) })
		<-r.Context().Done() // until the client is killed
	}))
	t.Cleanup(s.Close)
	return s
}

type partCountingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *partCountingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// TestDeltaPartResumesAfterKill: `repofs pull` killed (SIGKILL) once half
// of a large delta part has arrived; the next pull asks for the rest with
// a Range request, re-sends less than half of the part, and the
// repository fscks clean at T'.
func TestDeltaPartResumesAfterKill(t *testing.T) {
	repotest.RequireOstree(t)
	// A scratch delta whose one part holds 6 MiB of incompressible data.
	ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 20, Big: 6 << 20, NoScratch: true, NoFrom: true})
	if _, stderr, code := repofs(t, "--repo="+ds.Repo, "static-delta", "generate", "--empty", "--to="+ds.To, "--min-fallback-size=0"); code != 0 {
		t.Fatalf("static-delta generate: exit %d: %s", code, stderr)
	}
	if _, stderr, code := repofs(t, "--repo="+ds.Repo, "summary", "-u"); code != 0 {
		t.Fatalf("summary -u: exit %d: %s", code, stderr)
	}
	var part string
	var size int64
	filepath.WalkDir(filepath.Join(ds.Repo, "deltas"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() != "superblock" {
			if st, err := d.Info(); err == nil && st.Size() > size {
				rel, _ := filepath.Rel(ds.Repo, p)
				part, size = "/"+filepath.ToSlash(rel), st.Size()
			}
		}
		return nil
	})
	if size < 4<<20 {
		t.Fatalf("largest part %q is %d bytes; the test wants several MB", part, size)
	}
	srv := newPartServer(t, ds.Repo, part)
	client := filepath.Join(t.TempDir(), "client")
	repotest.Init(t, client, "bare-user")
	repotest.Ostree(t, "--repo="+client, "remote", "add", "--no-gpg-verify", "origin", srv.URL)

	cmd := exec.Command(repofsBin, "--repo="+client, "pull", "origin", "main")
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-srv.halfSent:
	case err := <-exited:
		t.Fatalf("pull ended before half the part was sent: %v\n%s", err, stderr.String())
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("half the part was not sent within 2 minutes")
	}
	// Kill once the half is on disk in the pull's fetcher directory.
	deadline := time.Now().Add(time.Minute)
	for {
		used, err := tmpdir.Usage(filepath.Join(client, "tmp"))
		if err != nil {
			t.Fatal(err)
		}
		if used >= size/2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("tmp/ holds %d bytes, not the %d sent, a minute on", used, size/2)
		}
		time.Sleep(20 * time.Millisecond) // polling the disk, with a deadline
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	if out, _, code := ostreeCmd(t, "--repo="+client, "rev-parse", "origin:main"); code == 0 {
		t.Fatalf("the killed pull set origin:main to %s", out)
	}

	srv.cut.Store(false)
	first := srv.sent.Swap(0)
	srv.mu.Lock()
	srv.ranges = nil
	srv.mu.Unlock()
	if _, stderr, code := repofs(t, "--repo="+client, "pull", "origin", "main"); code != 0 {
		t.Fatalf("second pull: exit %d: %s", code, stderr)
	}
	srv.mu.Lock()
	ranges := srv.ranges
	srv.mu.Unlock()
	// What the second pull had sent again of what the first received.
	second := srv.sent.Load()
	resent := second - (size - first)
	t.Logf("part of %d bytes, %d sent before the kill; second pull: Range %q, %d bytes sent, %d of them again", size, first, ranges, second, resent)
	if len(ranges) != 1 || !strings.HasPrefix(ranges[0], "bytes=") {
		t.Errorf("second pull asked for the part with Range %q, want one ranged request", ranges)
	}
	if resent >= size/2 || second >= size {
		t.Errorf("second pull sent %d bytes of the %d-byte part, %d of them again; want less than half again", second, size, resent)
	}
	repotest.Ostree(t, "--repo="+client, "fsck")
	if got := strings.TrimSpace(repotest.Ostree(t, "--repo="+client, "rev-parse", "origin:main")); got != ds.To {
		t.Errorf("origin:main = %s, want %s", got, ds.To)
	}
}
