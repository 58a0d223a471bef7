package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// script answers the n-th request (0-based) of a path; a nil step serves
// the body whole, honouring Range.
type step func(w http.ResponseWriter, req *http.Request, body []byte)

var (
	status = func(code int) step {
		return func(w http.ResponseWriter, _ *http.Request, _ []byte) { http.Error(w, "scripted", code) }
	}
	reset step = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}
	truncate step = func(w http.ResponseWriter, _ *http.Request, body []byte) {
		c, bw, err := w.(http.Hijacker).Hijack()
		if err == nil {
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
			bw.Write(body[:len(body)/2])
			bw.Flush()
			c.Close()
		}
	}
	// ignoreRange answers 200 with the whole body whatever was asked.
	ignoreRange step = func(w http.ResponseWriter, _ *http.Request, body []byte) { w.Write(body) }
	// stall sends half the body, then nothing for a while.
	stall step = func(w http.ResponseWriter, req *http.Request, body []byte) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		select {
		case <-req.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
)

type scripted struct {
	body  []byte
	steps []step

	mu     sync.Mutex
	n      int
	ranges []string // the Range header of each request
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	n := s.n
	s.n++
	s.ranges = append(s.ranges, req.Header.Get("Range"))
	s.mu.Unlock()
	if n < len(s.steps) && s.steps[n] != nil {
		s.steps[n](w, req, s.body)
		return
	}
	http.ServeContent(w, req, "object", time.Time{}, bytes.NewReader(s.body))
}

func (s *scripted) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func testBody() []byte {
	b := make([]byte, 100<<10)
	for i := range b {
		b[i] = byte(i * 7 % 251)
	}
	return b
}

func TestFetcherRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		steps    []step
		retries  int
		missing  bool // the final error is ErrMissing
		fails    bool // the fetch fails
		requests int  // how many requests the server saw
	}{
		{name: "ok", requests: 1},
		{name: "404 is missing, not retried", steps: []step{status(404)}, retries: 5, missing: true, fails: true, requests: 1},
		{name: "403 is missing", steps: []step{status(403)}, retries: 5, missing: true, fails: true, requests: 1},
		{name: "410 is missing", steps: []step{status(410)}, retries: 5, missing: true, fails: true, requests: 1},
		{name: "500 retried", steps: []step{status(500), status(503)}, retries: 5, requests: 3},
		{name: "408 retried", steps: []step{status(408)}, retries: 5, requests: 2},
		{name: "429 retried", steps: []step{status(429)}, retries: 5, requests: 2},
		{name: "reset retried", steps: []step{reset}, retries: 5, requests: 2},
		{name: "truncated retried", steps: []step{truncate}, retries: 5, requests: 2},
		{name: "400 not retried", steps: []step{status(400)}, retries: 5, fails: true, requests: 1},
		{name: "retries run out", steps: []step{status(500), status(500), status(500)}, retries: 2, fails: true, requests: 3},
		{name: "no retries", steps: []step{status(500)}, retries: 0, fails: true, requests: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := testBody()
			for _, mode := range []string{"get", "file", "memory"} {
				s := &scripted{body: body, steps: tc.steps}
				srv := httptest.NewServer(s)
				f, err := newFetcher("origin", srv.URL, tc.retries)
				if err != nil {
					t.Fatal(err)
				}
				var got []byte
				if mode == "get" {
					got, err = f.get(t.Context(), "objects/ab/cd.filez", 1<<20)
				} else if mode == "file" {
					// No small bound: the body goes to the partial file.
					p := filepath.Join(t.TempDir(), "partial")
					if _, _, _, err = f.fetchObject(t.Context(), "objects/ab/cd.filez", p, -1, true); err == nil {
						got, _ = os.ReadFile(p)
					}
				} else {
					// A small object comes back in memory; no file is made.
					p := filepath.Join(t.TempDir(), "partial")
					var size int64
					got, size, _, err = f.fetchObject(t.Context(), "objects/ab/cd.filez", p, int64(len(body)), true)
					if _, serr := os.Stat(p); serr == nil {
						t.Errorf("memory: a partial file was made")
					}
					if err == nil && (got == nil || size != int64(len(body))) {
						t.Errorf("memory: got %d bytes in memory, size %d", len(got), size)
					}
				}
				srv.Close()
				if n := len(s.requests()); n != tc.requests {
					t.Errorf("%s: %d requests, want %d", mode, n, tc.requests)
				}
				if tc.fails {
					if err == nil {
						t.Fatalf("%s: no error", mode)
					}
					if errors.Is(err, ErrMissing) != tc.missing {
						t.Errorf("%s: errors.Is(%v, ErrMissing) = %v", mode, err, !tc.missing)
					}
					if want := srv.URL + "/objects/ab/cd.filez"; !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "pull origin: ") {
						t.Errorf("%s: error %q does not name the remote and %s", mode, err, want)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", mode, err)
				}
				if !bytes.Equal(got, body) {
					t.Errorf("%s: got %d bytes, not the body", mode, len(got))
				}
			}
		})
	}
}

// TestFetcherResume starts from a partial file and checks each way a
// server may answer the Range request.
func TestFetcherResume(t *testing.T) {
	old := stallTimeout
	stallTimeout = 300 * time.Millisecond
	t.Cleanup(func() { stallTimeout = old })
	body := testBody()
	const have = 30 << 10
	for _, tc := range []struct {
		name    string
		partial []byte // what the partial file holds before
		steps   []step
		retries int
		ranges  []string // Range headers the server must see
		small   int64    // fetchObject's in-memory limit (0: none)
		fresh   bool     // the fetcher directory is new: no partial is looked for at first
	}{
		{name: "206 appends", partial: body[:have], ranges: []string{"bytes=30720-"}},
		{name: "200 restarts", partial: body[:have], steps: []step{ignoreRange}, ranges: []string{"bytes=30720-"}},
		{name: "416 restarts without a retry", partial: append(append([]byte(nil), body...), "junk"...), retries: 0,
			ranges: []string{fmt.Sprintf("bytes=%d-", len(body)+4), ""}},
		{name: "complete partial is used", partial: body, retries: 0, ranges: []string{fmt.Sprintf("bytes=%d-", len(body))}},
		{name: "reset then resume", partial: body[:have], steps: []step{reset}, retries: 2, ranges: []string{"bytes=30720-", "bytes=30720-"}},
		{name: "stall then resume from what arrived", partial: nil, steps: []step{stall}, retries: 2,
			ranges: []string{"", fmt.Sprintf("bytes=%d-", len(body)/2)}},
		{name: "stall then resume, in a new fetcher directory", partial: nil, steps: []step{stall}, retries: 2, fresh: true,
			ranges: []string{"", fmt.Sprintf("bytes=%d-", len(body)/2)}},
		{name: "a partial file wins over memory", partial: body[:have], small: int64(len(body)), ranges: []string{"bytes=30720-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{body: body, steps: tc.steps}
			srv := httptest.NewServer(s)
			defer srv.Close()
			f, err := newFetcher("origin", srv.URL, tc.retries)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "partial")
			if tc.partial != nil {
				if err := os.WriteFile(p, tc.partial, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			small := tc.small
			if small == 0 {
				small = -1
			}
			mem, n, _, err := f.fetchObject(t.Context(), "objects/ab/cd.filez", p, small, !tc.fresh)
			if err != nil {
				t.Fatal(err)
			}
			if mem != nil {
				t.Fatal("a resumed download came back in memory")
			}
			got, _ := os.ReadFile(p)
			if n != int64(len(body)) || !bytes.Equal(got, body) {
				t.Errorf("partial holds %d bytes (size %d), not the body", len(got), n)
			}
			if r := s.requests(); strings.Join(r, ",") != strings.Join(tc.ranges, ",") {
				t.Errorf("Range headers %q, want %q", r, tc.ranges)
			}
		})
	}
}

// TestFetcherCancel: a cancelled fetch stops at once with ctx's error and
// keeps what arrived for the next pull.
func TestFetcherCancel(t *testing.T) {
	body := testBody()
	s := &scripted{body: body, steps: []step{stall}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	f, _ := newFetcher("origin", srv.URL, 5)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	p := filepath.Join(t.TempDir(), "partial")
	start := time.Now()
	_, _, _, err := f.fetchObject(ctx, "objects/ab/cd.filez", p, -1, true)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled fetch: %v", err)
	}
	if d := time.Since(start); d > stallTimeout/3 { // well before a stall would end it
		t.Errorf("cancel took %v", d)
	}
	if st, err := os.Stat(p); err != nil || st.Size() != int64(len(body)/2) {
		t.Errorf("partial after cancel: %v %v, want %d bytes", st, err, len(body)/2)
	}
}

func TestNewFetcherURLs(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://example.com/repo", true},
		{"https://example.com/repo/", true},
		{"file:///srv/repo", true},
		{"file://relative/repo", false},
		{"ftp://example.com/repo", false},
		{"example.com/repo", false},
		{"", false},
	} {
		f, err := newFetcher("origin", tc.url, 0)
		if (err == nil) != tc.ok {
			t.Errorf("newFetcher(%q): %v, want ok=%v", tc.url, err, tc.ok)
			continue
		}
		if err == nil && !strings.HasSuffix(f.url("config"), "/repo/config") {
			t.Errorf("newFetcher(%q).url(config) = %s", tc.url, f.url("config"))
		}
	}
}
