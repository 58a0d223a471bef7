package pull

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
)

// TestConnTransportPipeline: pipelined requests are answered in order on
// one connection, which serves the next request once all were read; a
// server that asks to close, or a body closed unread, ends the pipeline
// (errPipelineEnded) with the rest unanswered, and the connection is not
// reused.
func TestConnTransportPipeline(t *testing.T) {
	cases := []struct {
		name       string
		closeAfter string // the path whose answer asks to close
		unread     int    // the response whose body is closed unread (-1: none)
		answered   int
	}{
		{name: "all answered", unread: -1, answered: 4},
		{name: "server closes after the second", closeAfter: "/1", unread: -1, answered: 2},
		{name: "body closed unread", unread: 1, answered: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, conns := connServer(t, func(w http.ResponseWriter, req *http.Request) {
				if req.URL.Path == tc.closeAfter {
					w.Header().Set("Connection", "close")
				}
				fmt.Fprintf(w, "body of %s", req.URL.Path)
			})
			c := newHTTPClient()
			defer c.CloseIdleConnections()
			tr := c.Transport.(*connTransport)
			var reqs []*http.Request
			for i := range 4 {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, fmt.Sprintf("%s/%d", srv.URL, i), nil)
				if err != nil {
					t.Fatal(err)
				}
				reqs = append(reqs, req)
			}
			pl, err := tr.pipeline(t.Context(), reqs[0].URL.Host, reqs)
			if err != nil {
				t.Fatal(err)
			}
			answered := 0
			for i := range reqs {
				resp, err := pl.next()
				if errors.Is(err, errPipelineEnded) {
					break
				}
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				answered++
				if i == tc.unread {
					resp.Body.Close()
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf("body of /%d", i); err != nil || string(body) != want {
					t.Fatalf("response %d: %q, %v; want %q", i, body, err, want)
				}
			}
			pl.close()
			if answered != tc.answered {
				t.Errorf("%d responses read, want %d", answered, tc.answered)
			}
			resp, err := get(t, c, t.Context(), srv.URL+"/after")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			want := int64(1)
			if tc.answered < 4 {
				want = 2
			}
			if n := conns.Load(); n != want {
				t.Errorf("the pipeline and a request after it took %d connections, want %d", n, want)
			}
		})
	}
}

// pipeListener counts reads of its connections that held more than one
// request for a content object (files) or for a dirtree (dirs): requests
// that came pipelined.
type pipeListener struct {
	net.Listener
	files, dirs *atomic.Int64
}

func (l pipeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return pipeConn{c, l.files, l.dirs}, err
}

type pipeConn struct {
	net.Conn
	files, dirs *atomic.Int64
}

func (c pipeConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if bytes.Count(b[:n], []byte(".filez HTTP/1.1")) > 1 {
		c.files.Add(1)
	}
	if bytes.Count(b[:n], []byte(".dirtree HTTP/1.1")) > 1 {
		c.dirs.Add(1)
	}
	return n, err
}

// TestPullPipelined: a pull sends its requests for content objects and
// for dirtrees pipelined, and loses nothing to a server that closes the
// connection every few requests (as nginx does after keepalive_requests):
// every content object is served once, the requests the server dropped
// unread are sent again, and the pulled tree is the source's. With the
// remote's http-pipelining=false, nothing comes pipelined.
func TestPullPipelined(t *testing.T) {
	repotest.RequireOstree(t)
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("http-pipelining=", on), func(t *testing.T) { testPullPipelined(t, on) })
	}
}

func testPullPipelined(t *testing.T, on bool) {
	var mu sync.Mutex
	served := map[string]int{}
	var files, dirs, n atomic.Int64
	s := newSource(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if strings.HasSuffix(req.URL.Path, ".filez") {
				mu.Lock()
				served[req.URL.Path]++
				mu.Unlock()
				if n.Add(1)%5 == 0 {
					w.Header().Set("Connection", "close")
				}
			}
			h.ServeHTTP(w, req)
		})
	})
	s.srv.Close()
	s.srv = httptest.NewUnstartedServer(s.srv.Config.Handler)
	s.srv.Listener = pipeListener{s.srv.Listener, &files, &dirs}
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	r, err := repo.Init(filepath.Join(t.TempDir(), "client"), repo.ModeBareUser)
	if err != nil {
		t.Fatal(err)
	}
	set := []repo.ConfigKey{{Key: "http-pipelining", Value: fmt.Sprint(on)}}
	if err := AddRemote(context.Background(), r, "origin", s.srv.URL, AddOptions{NoGPGVerify: true, Set: set}); err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"test/main"}, Parallel: 4}); err != nil {
		t.Fatal(err)
	}
	s.check(t, r, "test/main")
	if on && files.Load() == 0 {
		t.Error("no content object requests came pipelined")
	}
	if on && dirs.Load() == 0 {
		t.Error("no dirtree requests came pipelined")
	}
	if !on && files.Load()+dirs.Load() > 0 {
		t.Errorf("http-pipelining=false: %d reads held pipelined object requests, %d dirtree requests", files.Load(), dirs.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	servedOnce(t, served)
}

// TestPullPipelineResumesCut: an object whose pipelined body is cut off is
// fetched again by a Range request for the rest, resuming what the
// pipeline wrote of it, and the objects pipelined after it are fetched on
// their own.
func TestPullPipelineResumesCut(t *testing.T) {
	repotest.RequireOstree(t)
	src := filepath.Join(t.TempDir(), "src")
	repotest.Init(t, src, "archive")
	tree := t.TempDir()
	var es []repotest.Entry
	for i := range 8 {
		es = append(es, repotest.Entry{Path: fmt.Sprintf("f%d", i), Kind: repotest.File, Size: smallBody + 50<<10})
	}
	repotest.WriteTree(t, tree, es)
	commit := repotest.Commit(t, src, "big", tree, repotest.CommitOpts{})
	repotest.Ostree(t, "--repo="+src, "summary", "-u")
	var requests, ranges, cut atomic.Int64
	fs := http.FileServer(http.Dir(src))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasSuffix(req.URL.Path, ".filez") {
			fs.ServeHTTP(w, req)
			return
		}
		if req.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		// The second object request, pipelined after the first: half
		// of its body, then the connection closes.
		if requests.Add(1) != 2 {
			fs.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		fs.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		c, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
		bw.Write(body[:len(body)/2])
		bw.Flush()
		c.Close()
		cut.Add(1)
	}))
	t.Cleanup(srv.Close)
	r := newClient(t, repo.ModeBareUser, srv.URL)
	if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"big"}, Parallel: 1}); err != nil {
		t.Fatal(err)
	}
	if cut.Load() != 1 {
		t.Fatalf("%d bodies cut, want 1", cut.Load())
	}
	if ranges.Load() != 1 {
		t.Errorf("%d Range requests, want 1: the cut object resumed", ranges.Load())
	}
	if got, _ := r.ReadRef("origin", "big"); got.String() != commit {
		t.Errorf("origin:big = %s, want %s", got, commit)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck", "-q")
}

// TestPullPipelinedNginx: nginx, which answers pipelined requests and
// closes a connection after keepalive_requests of them, serves a pull
// every object once, and the pull is the source's.
func TestPullPipelinedNginx(t *testing.T) {
	repotest.RequireOstree(t)
	s := newSource(t, nil)
	n := repotest.StartNginx(t, s.fx.Repo, repotest.NginxOpts{Location: "keepalive_requests 7; try_files $uri =404;"})
	r := newClient(t, repo.ModeBareUser, n.URL)
	if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"test/main"}, Parallel: 4}); err != nil {
		t.Fatal(err)
	}
	s.check(t, r, "test/main")
	served := map[string]int{}
	for _, req := range n.Requests(t) {
		if strings.HasSuffix(req.Path, ".filez") {
			if req.Status != http.StatusOK {
				t.Errorf("%s answered %d", req.Path, req.Status)
			}
			served[req.Path]++
		}
	}
	servedOnce(t, served)
}

// TestPullPipelineHostileServer: a server that answers the first request
// of what it reads and drops the rest (requests pipelined behind it) costs
// a pull one header timeout per pipeline in flight when it is found out,
// not one per pipeline: the pull stops pipelining, and completes.
func TestPullPipelineHostileServer(t *testing.T) {
	repotest.RequireOstree(t)
	old := stallTimeout
	stallTimeout = 300 * time.Millisecond
	t.Cleanup(func() { stallTimeout = old })
	fx := repotest.NewFixture(t, "archive", repotest.FixtureOpts{Wide: 200})
	repotest.Ostree(t, "--repo="+fx.Repo, "summary", "-u")
	fs := http.FileServer(http.Dir(fx.Repo))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var dropped atomic.Int64 // reads that held requests behind the first
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if bytes.Count(buf[:n], []byte("GET ")) > 1 {
						dropped.Add(1)
					}
					req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf[:n])))
					if err != nil {
						return
					}
					rec := httptest.NewRecorder()
					fs.ServeHTTP(rec, req)
					resp := rec.Result()
					resp.ContentLength = int64(rec.Body.Len())
					if err := resp.Write(c); err != nil {
						return
					}
				}
			}()
		}
	}()
	r := newClient(t, repo.ModeBareUser, "http://"+l.Addr().String())
	if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"test/main"}, Parallel: 4}); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.ReadRef("origin", "test/main"); got.String() != fx.Refs["test/main"] {
		t.Errorf("origin:test/main = %s, want %s", got, fx.Refs["test/main"])
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck", "-q")
	if n := dropped.Load(); n == 0 || n > 4 {
		t.Errorf("%d pipelines dropped, want 1 to 4 (one per worker at most)", n)
	}
}

// TestPipeliningKey: http-pipelining reads as ostree reads a boolean key,
// and a value that is none is the remote's error, named.
func TestPipeliningKey(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
		fail  bool
	}{{"", true, false}, {"false", false, false}, {"true", true, false}, {"maybe", false, true}} {
		r, err := repo.Init(filepath.Join(t.TempDir(), "client"), repo.ModeBareUser)
		if err != nil {
			t.Fatal(err)
		}
		var set []repo.ConfigKey
		if tc.value != "" {
			set = []repo.ConfigKey{{Key: "http-pipelining", Value: tc.value}}
		}
		if err := AddRemote(context.Background(), r, "origin", "http://example.com/repo", AddOptions{NoGPGVerify: true, Set: set}); err != nil {
			t.Fatal(err)
		}
		rm, err := ReadRemote(r, "origin")
		switch {
		case tc.fail && (err == nil || !strings.Contains(err.Error(), "http-pipelining")):
			t.Errorf("http-pipelining=%s: %v, want an error naming the key", tc.value, err)
		case !tc.fail && (err != nil || rm.Pipelining != tc.want):
			t.Errorf("http-pipelining=%q: %+v %v, want %v", tc.value, rm, err, tc.want)
		}
	}
}

// servedOnce fails unless served, counts by object path, says that some
// objects were served and each once.
func servedOnce(t *testing.T, served map[string]int) {
	t.Helper()
	if len(served) == 0 {
		t.Fatal("no objects served")
	}
	for p, k := range served {
		if k != 1 {
			t.Errorf("%s served %d times, want once", p, k)
		}
	}
}
