package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// connServer is a test server that counts the connections it accepted.
func connServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func get(t *testing.T, c *http.Client, ctx context.Context, u string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

// TestConnTransportReuse: a body read to its length, even without a read
// that says io.EOF (io.ReadFull), or read to io.EOF, frees its connection
// for the next request; a body closed unread, or an answer that asks to
// close, does not.
func TestConnTransportReuse(t *testing.T) {
	srv, conns := connServer(t, func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		fmt.Fprint(w, "0123456789")
	})
	c := newHTTPClient()
	defer c.CloseIdleConnections()
	for i := range 5 {
		resp, err := get(t, c, t.Context(), srv.URL+"/x")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, resp.ContentLength)
		if i%2 == 0 {
			_, err = io.ReadFull(resp.Body, buf)
		} else {
			buf, err = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		if err != nil || string(buf) != "0123456789" {
			t.Fatalf("request %d: %q, %v", i, buf, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 requests in a row took %d connections, want 1", n)
	}
	for _, path := range []string{"/unread", "/close"} {
		before := conns.Load()
		resp, err := get(t, c, t.Context(), srv.URL+path)
		if err != nil {
			t.Fatal(err)
		}
		if path == "/close" {
			io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		resp, err = get(t, c, t.Context(), srv.URL+"/x")
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if conns.Load() == before {
			t.Errorf("%s: the connection was used again", path)
		}
	}
}

// TestConnTransportStale: a kept connection that the server closed
// meanwhile is replaced by a new one, and the request succeeds.
func TestConnTransportStale(t *testing.T) {
	srv, conns := connServer(t, func(w http.ResponseWriter, req *http.Request) { fmt.Fprint(w, "ok") })
	c := newHTTPClient()
	defer c.CloseIdleConnections()
	for i := range 3 {
		resp, err := get(t, c, t.Context(), srv.URL)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "ok" {
			t.Fatalf("request %d: %q, %v", i, b, err)
		}
		srv.CloseClientConnections()
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// TestConnTransportCancel: cancelling a request unblocks a read of its
// body at once, with the context's cause; closing a body of unknown length
// that is not read to its end does not wait for the rest; a response
// header that does not come within the timeout fails the request.
func TestConnTransportCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, _ := connServer(t, func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/endless": // chunked, never ends
			for {
				if _, err := w.Write(make([]byte, 1<<10)); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-release:
					return
				case <-time.After(time.Millisecond):
				}
			}
		case "/slow-header":
			select {
			case <-release:
			case <-req.Context().Done():
			}
		default: // half a body, then nothing
			w.Header().Set("Content-Length", "100")
			w.Write(make([]byte, 50))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-req.Context().Done():
			}
		}
	})
	c := newHTTPClient()
	defer c.CloseIdleConnections()

	why := errors.New("too slow")
	ctx, cancel := context.WithCancelCause(t.Context())
	resp, err := get(t, c, ctx, srv.URL+"/half")
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { cancel(why) })
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, why) {
		t.Errorf("read of a cancelled body: %v, want %v", err, why)
	}

	resp, err = get(t, c, t.Context(), srv.URL+"/endless")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 4<<10)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { resp.Body.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close of an endless body did not return")
	}

	tr := c.Transport.(*connTransport)
	tr.headerTimeout = 100 * time.Millisecond
	_, err = get(t, c, t.Context(), srv.URL+"/slow-header")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("a header later than the timeout: %v, want a timeout", err)
	}
}

// TestConnTransportOthers: what the transport does not make itself
// (file://, a proxied request) goes to net/http's.
func TestConnTransportOthers(t *testing.T) {
	dir := t.TempDir()
	c := newHTTPClient()
	defer c.CloseIdleConnections()
	resp, err := get(t, c, t.Context(), "file://"+dir+"/missing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("file://: %d", resp.StatusCode)
	}
	var proxied atomic.Int64
	proxy, _ := connServer(t, func(w http.ResponseWriter, req *http.Request) {
		proxied.Add(1)
		if !strings.HasPrefix(req.RequestURI, "http://") {
			t.Errorf("the proxy got %q", req.RequestURI)
		}
		fmt.Fprint(w, "via proxy")
	})
	tr := c.Transport.(*connTransport)
	tr.next.Proxy = func(*http.Request) (*url.URL, error) { return url.Parse(proxy.URL) }
	resp, err = get(t, c, t.Context(), "http://example.invalid/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "via proxy" || proxied.Load() != 1 {
		t.Errorf("proxied request: %q, %d requests at the proxy", b, proxied.Load())
	}
}
