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
// keep-alive connections each used by one request (or one pipeline of
// requests) at a time, in the goroutine that makes the request: it writes
// the request and parses the response (net/http's own writer and parser)
// there. net/http's Transport
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
	if err := req.Write(pc.bw); err != nil {
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(err)
	}
	resp, err := t.readResponse(ctx, pc, req)
	if err != nil {
		return fail(err)
	}
	release := func(reuse bool) {
		// stop reports false once the request was cancelled: a deadline
		// may be set, and the connection is done with.
		if !stop() || !reuse {
			pc.c.Close()
			return
		}
		t.put(pc)
	}
	resp.Body = &connBody{rc: resp.Body, ctx: ctx, release: release, keep: !resp.Close && !req.Close, left: resp.ContentLength}
	return resp, nil
}

// connBody is a response body read from its connection.
type connBody struct {
	rc  io.ReadCloser
	ctx context.Context
	// release is called once, when the body is closed: reuse says the
	// body was read to its end on a connection that may serve another
	// request; else the connection must be closed.
	release func(reuse bool)
	keep    bool  // the connection may serve another request after this body
	left    int64 // bytes of the body not read yet; -1: unknown (chunked, or up to the close)
	eof     bool
	closed  bool
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
	if done := b.eof || b.left == 0; !done || !b.keep {
		b.release(false) // first: closing an unread body would drain it
		b.rc.Close()
		return nil
	}
	b.rc.Close()
	b.release(true)
	return nil
}

// errPipelineEnded is what pipeline.next returns once the pipeline's
// connection is closed (a failure, an unread body, or a server that asked
// to close it) or every response was read: the requests not answered are
// to be sent again, one by one.
var errPipelineEnded = errors.New("pipeline ended")

// pipeline is a connection that several GET requests were written to at
// once (HTTP/1.1 pipelining), whose responses are read in order.
type pipeline struct {
	t    *connTransport
	pc   *rawConn
	ctx  context.Context
	reqs []*http.Request
	read int // responses read
	stop func() bool
	dead bool // pc is closed
}

// pipeline writes reqs, plain http:// GETs without a body to the one host
// key that no proxy takes (see RoundTrip), on one connection with one
// write. A server answers pipelined requests in order, one after the
// other, as it would have on as many round trips; the gain is the
// client's and the server's: one write and one wakeup for them all, not
// one each. ctx cancels them all; every request should carry it.
func (t *connTransport) pipeline(ctx context.Context, key string, reqs []*http.Request) (*pipeline, error) {
	pc, _, err := t.conn(ctx, key)
	if err != nil {
		return nil, err
	}
	pl := &pipeline{t: t, pc: pc, ctx: ctx, reqs: reqs}
	pl.stop = context.AfterFunc(ctx, func() { pc.c.SetDeadline(aLongTimeAgo) })
	for _, req := range reqs {
		if err := req.Write(pc.bw); err != nil {
			pl.kill()
			return nil, err
		}
	}
	if err := pc.bw.Flush(); err != nil {
		pl.kill()
		return nil, err
	}
	return pl, nil
}

// kill closes the connection; responses not read yet are lost.
func (pl *pipeline) kill() {
	if !pl.dead {
		pl.dead = true
		pl.stop()
		pl.pc.c.Close()
	}
}

// next reads the next response's header. The body of the one before must
// be closed first; closing a body unread, or a read of a header that
// fails, ends the pipeline (errPipelineEnded from then on), as does a
// response that says the connection closes after it.
func (pl *pipeline) next() (*http.Response, error) {
	if pl.dead || pl.read == len(pl.reqs) {
		return nil, errPipelineEnded
	}
	req := pl.reqs[pl.read]
	pl.read++
	resp, err := pl.t.readResponse(pl.ctx, pl.pc, req)
	if err != nil {
		pl.kill()
		return nil, err
	}
	release := func(reuse bool) {
		if !reuse {
			pl.kill()
		}
	}
	resp.Body = &connBody{rc: resp.Body, ctx: pl.ctx, release: release, keep: !resp.Close, left: resp.ContentLength}
	return resp, nil
}

// close ends the pipeline: its connection is kept for the next requests
// when every response was read, to its end, and closed.
func (pl *pipeline) close() {
	if pl.dead || pl.read < len(pl.reqs) {
		pl.kill()
		return
	}
	pl.dead = true
	if !pl.stop() {
		pl.pc.c.Close()
		return
	}
	pl.t.put(pl.pc)
}

// readResponse reads the response to req from pc, past the 1xx answers
// that may come before it, its header within the header timeout; ctx
// cancelled fails it.
func (t *connTransport) readResponse(ctx context.Context, pc *rawConn, req *http.Request) (*http.Response, error) {
	// A read deadline set here could undo the cancellation's: set it,
	// then look at the context.
	readDeadline := func(d time.Time) error {
		if t.headerTimeout > 0 {
			pc.c.SetReadDeadline(d)
		}
		return context.Cause(ctx)
	}
	if err := readDeadline(time.Now().Add(t.headerTimeout)); err != nil {
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		if err := readDeadline(time.Time{}); err != nil {
			resp.Body.Close()
			return nil, err
		}
		return resp, nil
	}
}
