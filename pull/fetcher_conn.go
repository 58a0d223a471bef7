package pull

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// connTransport makes a pull's plain http:// GET requests itself, on
// keep-alive connections each used by one request at a time, in the
// goroutine that makes the request: it writes the request and parses the
// response (net/http's own writer and parser) there. net/http's Transport
// gives every connection a reading and a writing goroutine, and hands each
// request and response between them and the caller: on loopback, where a
// pull of many small objects is bound by CPU, those handoffs cost the
// client more than the requests themselves. Everything else — https://,
// file://, a proxy, other methods — goes to next, as before.
type connTransport struct {
	next          *http.Transport
	headerTimeout time.Duration // for the response's header, as next's ResponseHeaderTimeout
	maxIdle       int           // idle connections kept per host

	mu     sync.Mutex
	idle   map[string][]*rawConn // by host:port, most recent last
	dialer net.Dialer
}

func newConnTransport(next *http.Transport) *connTransport {
	return &connTransport{
		next: next, headerTimeout: next.ResponseHeaderTimeout, maxIdle: next.MaxIdleConnsPerHost,
		idle:   map[string][]*rawConn{},
		dialer: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
	}
}

// rawConn is a keep-alive connection to one host.
type rawConn struct {
	key string
	c   net.Conn
	br  *bufio.Reader
	bw  *bufio.Writer
}

// aLongTimeAgo is a deadline that makes blocked reads and writes return.
var aLongTimeAgo = time.Unix(1, 0)

func (t *connTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || req.Method != http.MethodGet || req.Body != nil && req.Body != http.NoBody || t.proxied(req) {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	key := req.URL.Host
	if req.URL.Port() == "" {
		key = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	for {
		pc, reused, err := t.conn(ctx, key)
		if err != nil {
			return nil, err
		}
		resp, err := t.roundTrip(pc, req)
		if err == nil {
			return resp, nil
		}
		// A kept connection the server closed meanwhile fails the first
		// write or read: a GET is idempotent, so try another, as
		// net/http does. Not after a timeout: the server is slow.
		var ne net.Error
		if !reused || ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout() {
			if cause := context.Cause(ctx); cause != nil {
				return nil, cause
			}
			return nil, err
		}
	}
}

// proxied reports whether next would send req through a proxy.
func (t *connTransport) proxied(req *http.Request) bool {
	if t.next.Proxy == nil {
		return false
	}
	u, err := t.next.Proxy(req)
	return err != nil || u != nil
}

// conn returns an idle connection to key, or dials one.
func (t *connTransport) conn(ctx context.Context, key string) (pc *rawConn, reused bool, err error) {
	t.mu.Lock()
	if l := t.idle[key]; len(l) > 0 {
		pc = l[len(l)-1]
		l[len(l)-1] = nil
		t.idle[key] = l[:len(l)-1]
		t.mu.Unlock()
		return pc, true, nil
	}
	t.mu.Unlock()
	c, err := t.dialer.DialContext(ctx, "tcp", key)
	if err != nil {
		return nil, false, err
	}
	return &rawConn{key: key, c: c, br: bufio.NewReaderSize(c, 32<<10), bw: bufio.NewWriterSize(c, 4<<10)}, false, nil
}

// put keeps pc for the next request to its host, or closes it.
func (t *connTransport) put(pc *rawConn) {
	t.mu.Lock()
	if l := t.idle[pc.key]; len(l) < t.maxIdle {
		t.idle[pc.key] = append(l, pc)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	pc.c.Close()
}

// CloseIdleConnections closes the connections kept, and next's.
func (t *connTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*rawConn{}
	t.mu.Unlock()
	for _, l := range idle {
		for _, pc := range l {
			pc.c.Close()
		}
	}
	t.next.CloseIdleConnections()
}

// roundTrip sends req on pc and reads the response's header; the body is
// read from pc, which goes back to the idle connections once the body was
// read to its end and closed. A failure closes pc.
func (t *connTransport) roundTrip(pc *rawConn, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// Cancelling the request unblocks its reads and writes; the
	// connection is not reused then.
	stop := context.AfterFunc(ctx, func() { pc.c.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.c.Close()
		return nil, err
	}
	// A read deadline set here could undo the cancellation's: set it,
	// then look at the context.
	readDeadline := func(d time.Time) error {
		if t.headerTimeout > 0 {
			pc.c.SetReadDeadline(d)
		}
		return context.Cause(ctx)
	}
	if err := req.Write(pc.bw); err != nil {
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(err)
	}
	if err := readDeadline(time.Now().Add(t.headerTimeout)); err != nil {
		return fail(err)
	}
	var resp *http.Response
	for {
		var err error
		if resp, err = http.ReadResponse(pc.br, req); err != nil {
			return fail(err)
		}
		// 1xx answers come before the final one.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if err := readDeadline(time.Time{}); err != nil {
		resp.Body.Close()
		return fail(err)
	}
	resp.Body = &connBody{rc: resp.Body, t: t, pc: pc, ctx: ctx, stop: stop, keep: !resp.Close && !req.Close, left: resp.ContentLength}
	return resp, nil
}

// connBody is a response body read from its connection.
type connBody struct {
	rc     io.ReadCloser
	t      *connTransport
	pc     *rawConn
	ctx    context.Context
	stop   func() bool
	keep   bool  // the connection may serve another request after this body
	left   int64 // bytes of the body not read yet; -1: unknown (chunked, or up to the close)
	eof    bool
	closed bool
}

func (b *connBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("http: read on closed response body")
	}
	n, err := b.rc.Read(p)
	if b.left > 0 {
		b.left -= int64(n)
	}
	if err == io.EOF {
		b.eof = true
	} else if err != nil && b.ctx.Err() != nil {
		err = context.Cause(b.ctx) // not the deadline that ended the read
	}
	return n, err
}

// Close returns the connection for reuse when the body was read to its
// end, and closes it otherwise: the rest of a body is not worth reading.
// A body of known length is at its end once that many bytes were read,
// whether or not a read said io.EOF (io.ReadFull stops before).
func (b *connBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	done := b.eof || b.left == 0
	// stop reports false once the request was cancelled: a deadline may
	// be set, and the connection is done with.
	if !b.stop() || !done || !b.keep {
		b.pc.c.Close() // first: closing an unread body would drain it
		b.rc.Close()
		return nil
	}
	b.rc.Close()
	b.t.put(b.pc)
	return nil
}
