package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/repofs/repofs/internal/bufpool"
	"github.com/repofs/repofs/repo"
)

// ErrMissing means the server does not have the file (403, 404, 410).
var ErrMissing = errors.New("not on the server")

// fetcher talks to one remote over HTTP, through a list of mirrors (one
// base URL unless the remote has a mirror list).
type fetcher struct {
	remote  string
	mirrors *mirrorList
	client  *http.Client
	retries int
	slow    LowSpeed      // the low-speed limit (see guard)
	bytes   *atomic.Int64 // transferred, shared by the fetchers of a pull
	// noPipeline, once set, stops fetchPipelined: the server failed a
	// pipelined request after the first (see fetchPipelined). Shared
	// by the fetchers of a pull; nil: never set.
	noPipeline *atomic.Bool
}

func newFetcher(remote, rawURL string, retries int) (*fetcher, error) {
	u, err := parseBase(remote, rawURL)
	if err != nil {
		return nil, err
	}
	return &fetcher{remote: remote, mirrors: &mirrorList{key: "url", ms: []*mirror{{base: u}}},
		client: newHTTPClient(), retries: retries,
		slow: LowSpeed{Bytes: defaultLowSpeedBytes, Time: stallTimeout}, bytes: new(atomic.Int64), noPipeline: new(atomic.Bool)}, nil
}

// newHTTPClient is the HTTP client of a pull's fetchers.
func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = stallTimeout
	tr.DisableCompression = true // objects are compressed already; keep lengths honest for Range
	// file:// goes through the same code: 404 for a missing file, Range
	// answered from the file.
	tr.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
	return &http.Client{Transport: newConnTransport(tr)}
}

// send is f.client.Do(req), but a request that the client would hand to
// its connTransport as it is goes there directly: http.Client's own work
// per request (copying headers for redirects, the cookie jar, its
// timeout) is a measurable part of a pull of many small objects and does
// nothing for a GET without credentials that is not redirected. A
// redirect is followed by the client: the request for its Location goes
// through it, and so do any further redirects.
func (f *fetcher) send(req *http.Request) (*http.Response, error) {
	t, ok := f.client.Transport.(*connTransport)
	if !ok || f.client.Jar != nil || f.client.Timeout != 0 || req.URL.User != nil {
		return f.client.Do(req)
	}
	resp, err := t.RoundTrip(req)
	if err != nil {
		// As the client reports it.
		return nil, &url.Error{Op: "Get", URL: req.URL.String(), Err: err}
	}
	if loc, ok := redirect(resp); ok {
		resp.Body.Close()
		next := req.Clone(req.Context())
		next.URL, next.Host = loc, ""
		return f.client.Do(next)
	}
	return resp, nil
}

// redirect returns where resp redirects a GET to, if it does.
func redirect(resp *http.Response) (*url.URL, bool) {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		if loc, err := resp.Location(); err == nil {
			return loc, true
		}
	}
	return nil, false
}

// with returns a fetcher like f (client, limits, byte count) that sends
// its requests to l.
func (f *fetcher) with(l *mirrorList) *fetcher {
	g := *f
	g.mirrors = l
	return &g
}

// at returns a fetcher like f for the one URL rawURL itself (a mirror
// list), fetched with path "".
func (f *fetcher) at(key, rawURL string) (*fetcher, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file" {
		return nil, fmt.Errorf("pull %s: %s mirror list URL %q: want http://, https:// or file://", f.remote, key, rawURL)
	}
	return f.with(&mirrorList{key: key, ms: []*mirror{{base: u}}}), nil
}

// url is path's URL on the first mirror, for messages.
func (f *fetcher) url(path string) string {
	return f.mirrors.ms[0].url(path)
}

// local reports whether f reads a file:// repository.
func (f *fetcher) local() bool {
	return f.mirrors.ms[0].base.Scheme == "file"
}

// retryable reports whether an attempt's failure may go away: not a
// cancellation, a transfer under the low-speed limit (it would trickle
// again), or a full disk (ENOSPC, EDQUOT: retrying only fills it again).
func retryable(status int, err error) bool {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, ErrTooSlow) || noSpace(err) {
			return false
		}
		return true // resets, refused connections, truncated bodies, stalls
	}
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

// backoff sleeps before attempt n (1-based): capped exponential with jitter.
func backoff(ctx context.Context, n int) error {
	d := min(100*time.Millisecond<<min(n-1, 6), 5*time.Second)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// httpError is a final HTTP failure.
type httpError struct {
	status int
}

func (e *httpError) Error() string { return "Server returned HTTP " + strconv.Itoa(e.status) }

func (e *httpError) Is(target error) bool {
	return target == ErrMissing && (e.status == 403 || e.status == 404 || e.status == 410)
}

// get fetches path whole into memory, at most max bytes.
func (f *fetcher) get(ctx context.Context, path string, max int64) ([]byte, error) {
	data, _, err := f.fetchMem(ctx, path, max, validator{}, nil)
	return data, err
}

// getURL fetches the one URL of a fetcher made by at.
func (f *fetcher) getURL(ctx context.Context, rawURL string, max int64) ([]byte, error) {
	return f.get(ctx, "", max)
}

// getChecked is get for a body that check verifies (and may keep): a body
// it refuses with repo.ErrCorrupt is the mirror's fault, and the next
// mirror is asked; any other error from check ends the fetch.
func (f *fetcher) getChecked(ctx context.Context, path string, max int64, check func([]byte) error) ([]byte, error) {
	data, _, err := f.fetchMem(ctx, path, max, validator{}, check)
	return data, err
}

// validator identifies a cached copy for a conditional request.
type validator struct {
	etag         string
	lastModified time.Time
}

// getIf is get with a conditional request: when the server answers 304
// Not Modified, it returns notModified and no data. The returned validator
// describes the new copy.
func (f *fetcher) getIf(ctx context.Context, path string, max int64, have validator) (data []byte, got validator, err error) {
	return f.fetchMem(ctx, path, max, have, nil)
}

func (f *fetcher) fetchMem(ctx context.Context, path string, max int64, have validator, check func([]byte) error) (data []byte, got validator, err error) {
	notModified := false
	err = f.do(ctx, path, false, func(ctx context.Context, u string) (int, error) {
		rctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, err
		}
		if have.etag != "" {
			req.Header.Set("If-None-Match", have.etag)
		}
		if !have.lastModified.IsZero() {
			req.Header.Set("If-Modified-Since", have.lastModified.UTC().Format(http.TimeFormat))
		}
		resp, err := f.send(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotModified && (have.etag != "" || !have.lastModified.IsZero()) {
			notModified = true
			return http.StatusOK, nil
		}
		got.etag = resp.Header.Get("ETag")
		got.lastModified, _ = http.ParseTime(resp.Header.Get("Last-Modified"))
		// A Last-Modified is a usable validator only if the response is at
		// least a second younger (RFC 9110 §8.8.2.2): with one-second
		// resolution, a file changed twice within that second would
		// otherwise look unchanged.
		if date, err := http.ParseTime(resp.Header.Get("Date")); err != nil || date.Sub(got.lastModified) < time.Second {
			got.lastModified = time.Time{}
		}
		if resp.StatusCode != http.StatusOK {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			return resp.StatusCode, nil
		}
		if resp.ContentLength > max {
			return 0, permanent(fmt.Errorf("%d bytes, more than the %d allowed", resp.ContentLength, max))
		}
		body := f.guard(resp.Body, cancel)
		defer body.Stop()
		data, err = io.ReadAll(io.LimitReader(body, max+1))
		f.bytes.Add(int64(len(data)))
		if err != nil {
			return 0, readErr(body, err, int64(len(data)), resp.ContentLength)
		}
		if int64(len(data)) > max {
			return 0, permanent(fmt.Errorf("more than the %d bytes allowed", max))
		}
		if resp.ContentLength >= 0 && int64(len(data)) != resp.ContentLength {
			return 0, readErr(body, nil, int64(len(data)), resp.ContentLength)
		}
		if check != nil {
			if err := check(data); errors.Is(err, repo.ErrCorrupt) {
				return 0, &badBodyError{err}
			} else if err != nil {
				return 0, permanent(err)
			}
		}
		return http.StatusOK, nil
	})
	if notModified {
		return nil, have, err
	}
	return data, got, err
}

// smallBody is the largest object body fetched into memory rather than
// into a partial file: resuming it would save next to nothing, and the
// file costs a create, a reopen and an unlink per object.
const smallBody = 256 << 10

// fetchObject downloads path. A body of at most small bytes, with no
// partial download of it in p, comes back in memory; any other goes to the
// partial file p, resuming from what p already holds with a Range request
// (206: append; 200: start over; 416: p is complete when the server's
// Content-Range says the object has exactly its size, else drop p and
// start over), and mem is nil. size is the body's length either way;
// resumed says p held bytes from before the attempt that completed it, so
// that a body that then fails to verify may be the partial's fault, not
// the server's. Unless mayExist, p is known not to exist before the first
// attempt (the fetcher directory is new), and is not looked for: a stat
// per object is a measurable part of a pull.
//
// Each transfer runs under the low-speed limit (guard). A write to p that
// fails (ENOSPC, EDQUOT) ends the fetch at once: it is not retried.
func (f *fetcher) fetchObject(ctx context.Context, path, p string, small int64, mayExist bool) (mem []byte, size int64, resumed bool, err error) {
	return f.fetchObj(ctx, path, p, small, mayExist, nil)
}

// fetchObjectChecked is fetchObject for a body that check verifies and
// stages (taking mem, and removing p). A body check refuses with
// repo.ErrCorrupt is dropped: one that was resumed is fetched once more
// from byte 0 (the partial may have been the bad part), one that was not
// is the mirror's fault, and the next mirror is asked. Any other error
// from check ends the fetch.
func (f *fetcher) fetchObjectChecked(ctx context.Context, path, p string, small int64, mayExist bool, check func(mem []byte, size int64, resumed bool) error) error {
	_, _, _, err := f.fetchObj(ctx, path, p, small, mayExist, check)
	return err
}

func (f *fetcher) fetchObj(ctx context.Context, path, p string, small int64, mayExist bool, check func([]byte, int64, bool) error) (mem []byte, size int64, resumed bool, err error) {
	checked := func(status int, err error) (int, error) {
		if check == nil || err != nil || status != http.StatusOK && status != http.StatusPartialContent {
			return status, err
		}
		m := mem
		mem = nil // check owns it now
		switch err := check(m, size, resumed); {
		case err == nil:
			return status, nil
		case errors.Is(err, repo.ErrCorrupt) && resumed:
			return 0, errRestart
		case errors.Is(err, repo.ErrCorrupt):
			return 0, &badBodyError{err}
		default:
			return 0, permanent(err)
		}
	}
	err = f.do(ctx, path, true, func(ctx context.Context, u string) (int, error) {
		var status int
		var err error
		mem, size, resumed, status, err = f.objectAttempt(ctx, u, p, small, mayExist)
		mayExist = true // a failed attempt may leave part of the body
		return checked(status, err)
	})
	return mem, size, resumed, err
}

// pipelineDepth is how many object requests fetchPipelined writes at
// once on a connection.
const pipelineDepth = 8

// pipelined returns f's transport and its one mirror when f can pipeline
// object requests (fetchPipelined): one plain http:// mirror, reached
// through a connTransport without a proxy, and nothing for http.Client to
// do (send).
func (f *fetcher) pipelined() (*connTransport, *mirror, bool) {
	t, ok := f.client.Transport.(*connTransport)
	if !ok || len(f.mirrors.ms) != 1 || f.client.Jar != nil || f.client.Timeout != 0 || f.noPipeline == nil || f.noPipeline.Load() {
		return nil, nil, false
	}
	m := f.mirrors.ms[0]
	if u := m.base; u.Scheme != "http" || u.User != nil || t.proxied(&http.Request{URL: u}) {
		return nil, nil, false
	}
	return t, m, true
}

// fetchPipelined downloads the objects paths, as fetchObjectChecked does
// (partial files parts, check for each; with parts nil, a body larger
// than small ends the pipeline), with the requests written at once on one
// connection (HTTP/1.1 pipelining) and the responses read in order. It
// stops at the first object it cannot take as fetchObject's first attempt
// would, with no partial file before: an error, an answer other than 200,
// the connection closing; and it returns how many objects, from the
// first, are done. The caller fetches the rest one by one: the first of
// them may have part of its body in its partial file. A server that fails
// to answer a pipelined request after the first (its header cannot be
// read: the server dropped the request, or closed the connection without
// saying so) is not sent pipelines again: some servers and proxies
// mishandle them, and each would cost a timeout. An error is one that
// ends the pull: check's (but repo.ErrCorrupt, which the caller's fetch
// meets again, and reports) or the disk's.
func (f *fetcher) fetchPipelined(ctx context.Context, paths, parts []string, small int64, check func(i int, mem []byte, size int64) error) (int, error) {
	t, m, ok := f.pipelined()
	if !ok {
		return 0, nil
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	reqs := make([]*http.Request, len(paths))
	for i, path := range paths {
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, m.url(path), nil)
		if err != nil {
			return 0, nil
		}
		reqs[i] = req
	}
	key := m.base.Host
	if m.base.Port() == "" {
		key = net.JoinHostPort(m.base.Hostname(), "80")
	}
	pl, err := t.pipeline(rctx, key, reqs)
	if err != nil {
		return 0, nil
	}
	defer pl.close()
	for i := range paths {
		part := ""
		if parts != nil {
			part = parts[i]
		}
		mem, size, err := f.pipelinedBody(pl, cancel, part, small)
		var hdr *headerError
		if i > 0 && errors.As(err, &hdr) {
			f.noPipeline.Store(true)
		}
		if err != nil {
			var perm *permanentError
			if errors.As(err, &perm) {
				return i, fmt.Errorf("pull %s: fetch %s: %w", f.remote, reqs[i].URL, err)
			}
			return i, nil
		}
		m.ok()
		if err := check(i, mem, size); errors.Is(err, repo.ErrCorrupt) {
			return i, nil
		} else if err != nil {
			return i, fmt.Errorf("pull %s: fetch %s: %w", f.remote, reqs[i].URL, err)
		}
	}
	return len(paths), nil
}

// pipelinedBody reads the next response of pl: a body of at most small
// bytes into memory (mem), a larger one into the partial file p (mem
// nil). Any failure is the caller's cue to fetch the object again, but a
// permanentError: the disk's.
func (f *fetcher) pipelinedBody(pl *pipeline, cancel context.CancelCauseFunc, p string, small int64) (mem []byte, size int64, err error) {
	resp, err := pl.next()
	if err != nil {
		if !errors.Is(err, errPipelineEnded) {
			err = &headerError{err}
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	if loc, ok := redirect(resp); ok {
		// Followed at once, on a connection of its own, with what
		// follows in the pipeline kept for later: a mirror network's
		// front redirects every object.
		if resp.ContentLength < 0 || resp.ContentLength > 64<<10 {
			return nil, 0, errPipelineEnded
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return nil, 0, err
		}
		req, err := http.NewRequestWithContext(pl.ctx, http.MethodGet, loc.String(), nil)
		if err != nil {
			return nil, 0, err
		}
		if resp, err = f.send(req); err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
	}
	want := resp.ContentLength
	if resp.StatusCode != http.StatusOK || want < 0 {
		return nil, 0, errPipelineEnded // closed unread: the pipeline ends
	}
	if want <= small {
		_, err := f.readSmall(resp, cancel, want, &mem, &size)
		return mem, size, err
	}
	if p == "" {
		return nil, 0, errPipelineEnded
	}
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, 0, permanent(err)
	}
	body := f.guard(resp.Body, cancel)
	defer body.Stop()
	n, err := io.Copy(fileWriter{out}, io.LimitReader(body, want))
	f.bytes.Add(n)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = permanent(fmt.Errorf("write %s: %w", p, cerr))
	}
	if err == nil && n != want {
		err = readErr(body, nil, n, want)
	}
	if err != nil {
		return nil, 0, err
	}
	return nil, want, nil
}

// headerError is a pipelined response's header that could not be read.
type headerError struct{ err error }

func (e *headerError) Error() string { return "pipelined response: " + e.err.Error() }
func (e *headerError) Unwrap() error { return e.err }

// objectAttempt is one attempt of fetchObject, from the URL u.
func (f *fetcher) objectAttempt(ctx context.Context, u, p string, small int64, mayExist bool) (mem []byte, size int64, resumed bool, status int, err error) {
	return f.resumable(ctx, u, download{p: p, mayExist: mayExist, small: small, size: -1})
}

// download describes a resumable download into a partial file.
type download struct {
	p        string
	mayExist bool          // p may hold a prefix of the body already
	small    int64         // a body of at most small bytes, with no prefix in p, comes back in memory
	size     int64         // the whole body's length, or -1 when it is not known beforehand
	done     *atomic.Int64 // counts the body's bytes on disk, resumed ones included; nil: none
}

// resumable is one attempt of a resumable download of u into d.p,
// resuming what d.p holds with a Range request (206: append; 200: start
// over; 416: d.p is complete when the server's Content-Range says the body
// has exactly its length, and that is d.size if known, else drop d.p and
// start over). A body of at most d.small bytes, with nothing in d.p, comes
// back in memory, and mem is nil otherwise. With a known d.size, a prefix
// in d.p longer than it is dropped, one of exactly that length is taken as
// complete without a request, and a server sending more than d.size bytes
// fails the download and d.p is dropped: nothing past the declared size is
// written. size is the body's length; resumed says d.p held bytes from
// before this attempt, so that a body that then fails to verify may be the
// partial's fault, not the server's.
//
// The transfer runs under the low-speed limit (guard). A write to d.p
// that fails (ENOSPC, EDQUOT) is permanent: it is not retried.
func (f *fetcher) resumable(ctx context.Context, u string, d download) (mem []byte, size int64, resumed bool, status int, err error) {
	count := func(n int64) {
		if d.done != nil {
			d.done.Add(n)
		}
	}
	status, err = func() (int, error) {
		var have int64
		if d.mayExist {
			if st, err := os.Stat(d.p); err == nil {
				have = st.Size()
			} else if !errors.Is(err, fs.ErrNotExist) {
				return 0, permanent(err)
			}
		}
		if d.size >= 0 && have > d.size {
			if err := os.Remove(d.p); err != nil {
				return 0, permanent(err)
			}
			have = 0
		}
		if d.size >= 0 && have == d.size && have > 0 {
			count(have)
			mem, size, resumed = nil, have, true
			return http.StatusOK, nil // all there: verification decides
		}
		rctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, err
		}
		if have > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
		}
		resp, err := f.send(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		want := resp.ContentLength
		flags := os.O_WRONLY | os.O_CREATE
		switch resp.StatusCode {
		case http.StatusPartialContent:
			// Appending: check the server answers the range we asked for.
			if have == 0 || !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", have)) {
				return 0, fmt.Errorf("206 with Content-Range %q for bytes=%d-", resp.Header.Get("Content-Range"), have)
			}
			flags |= os.O_APPEND
		case http.StatusOK:
			if have == 0 && want >= 0 && want <= d.small {
				return f.readSmall(resp, cancel, want, &mem, &size)
			}
			// No partial yet, or the server ignores Range: start over.
			flags |= os.O_TRUNC
			have = 0
		case http.StatusRequestedRangeNotSatisfiable:
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			if have == 0 {
				return resp.StatusCode, nil
			}
			if n := completeLength(resp); n == have && (d.size < 0 || n == d.size) {
				// p holds as many bytes as the body has: all of it,
				// unless they are wrong, which verifying it will tell.
				count(have)
				mem, size, resumed = nil, have, true
				return http.StatusOK, nil
			}
			// What we have is not a prefix of the body: start over, at once.
			if err := os.Remove(d.p); err != nil {
				return 0, permanent(err)
			}
			return 0, errRestart
		default:
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			return resp.StatusCode, nil
		}
		out, err := os.OpenFile(d.p, flags, 0o644)
		if err != nil {
			return 0, permanent(err)
		}
		count(have)
		body := f.guard(resp.Body, cancel)
		defer body.Stop()
		var src io.Reader = body
		if d.size >= 0 {
			src = io.LimitReader(body, d.size-have+1)
		}
		var dst io.Writer = fileWriter{out}
		if d.done != nil {
			dst = &countWriter{dst, d.done}
		}
		n, err := io.Copy(dst, src)
		f.bytes.Add(n)
		if cerr := out.Close(); err == nil && cerr != nil {
			err = permanent(fmt.Errorf("write %s: %w", d.p, cerr))
		}
		if d.size >= 0 && have+n > d.size {
			os.Remove(d.p)
			count(-(have + n))
			return 0, permanent(fmt.Errorf("the server sent more than the %d bytes expected", d.size))
		}
		if err != nil {
			count(-(have + n)) // counted again by the next attempt
			var perm *permanentError
			if errors.As(err, &perm) && want >= 0 {
				return 0, permanent(fmt.Errorf("%w (the file is %d bytes; %d of them were on disk)", err, have+want, have+n))
			} else if errors.As(err, &perm) {
				return 0, err
			}
			return 0, readErr(body, err, n, want)
		}
		if want >= 0 && n != want || d.size >= 0 && have+n != d.size {
			count(-(have + n))
			if d.size >= 0 {
				return 0, readErr(body, nil, have+n, d.size)
			}
			return 0, readErr(body, nil, n, want)
		}
		mem, size, resumed = nil, have+n, have > 0
		return resp.StatusCode, nil
	}()
	return mem, size, resumed, status, err
}

// readSmall reads a whole body of want bytes into a pooled buffer.
func (f *fetcher) readSmall(resp *http.Response, cancel context.CancelCauseFunc, want int64, mem *[]byte, size *int64) (int, error) {
	body := f.guard(resp.Body, cancel)
	defer body.Stop()
	buf := bufpool.Get(int(want))
	n, err := io.ReadFull(body, buf)
	f.bytes.Add(int64(n))
	if err != nil {
		bufpool.Put(buf)
		return 0, readErr(body, err, int64(n), want)
	}
	*mem, *size = buf, want
	return resp.StatusCode, nil
}

// completeLength is the object's length that a 416 answer gives in its
// Content-Range ("bytes */LENGTH"), or -1.
func completeLength(resp *http.Response) int64 {
	rest, ok := strings.CutPrefix(resp.Header.Get("Content-Range"), "bytes */")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// noSpace reports whether err is a full disk or quota, or repofs's own
// free-space guard: none goes away by trying again.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, repo.ErrNoSpace)
}

// recycle takes back a body that fetchObject returned in memory (from
// bufpool: a pull fetches thousands), once the caller is done with it; nil
// is ignored.
func (f *fetcher) recycle(mem []byte) {
	bufpool.Put(mem)
}

// errRestart asks do to repeat an attempt at once, without counting it
// as a failure: the partial file was dropped after a 416.
var errRestart = errors.New("range not satisfiable: restarting from byte 0")

// permanentError stops retries.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// do runs attempt on f's mirrors, with retries: each round tries path on
// every mirror still up, in order, until one succeeds; rounds are spaced
// by backoff, and there are at most 1+f.retries of them. A mirror that
// gave a final answer for path (a 4xx, a body that failed verification, a
// transfer under the low-speed limit) is not asked again for it. Failures
// that are the mirror's count against its health (mirror.fail): all but a
// missing file that need not exist (required false). A local failure
// (permanent: the disk, a cancelled pull) ends the request at once.
// Every final error names the remote and each URL tried.
func (f *fetcher) do(ctx context.Context, path string, required bool, attempt func(context.Context, string) (int, error)) error {
	var tries []mirrorTry
	var done map[*mirror]bool // mirrors with a final answer for path
	restarts, attempts := 0, 0
	var last error
	for round := 0; ; round++ {
		if round > 0 {
			if err := backoff(ctx, round); err != nil {
				return fmt.Errorf("pull %s: fetch %s: %w", f.remote, f.url(path), err)
			}
		}
		asked := false
		for _, m := range f.mirrors.order() {
			if done[m] {
				continue
			}
			asked = true
			u := m.url(path)
			status, err := attempt(ctx, u)
			for errors.Is(err, errRestart) && restarts < 2 {
				restarts++
				status, err = attempt(ctx, u)
			}
			attempts++
			if err == nil && (status == http.StatusOK || status == http.StatusPartialContent) {
				m.ok()
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("pull %s: fetch %s: %w", f.remote, u, ctx.Err())
			}
			if err == nil {
				last = &httpError{status}
			} else {
				last = err
			}
			var perm *permanentError
			if errors.As(err, &perm) {
				return fmt.Errorf("pull %s: fetch %s: %w", f.remote, u, last)
			}
			tries = setTry(tries, u, last)
			var bad *badBodyError
			if !errors.Is(last, ErrMissing) || required {
				m.fail(last)
			}
			if errors.As(err, &bad) || !retryable(status, err) {
				if done == nil {
					done = map[*mirror]bool{}
				}
				done[m] = true
			}
		}
		if !asked || round >= f.retries || len(done) == len(f.mirrors.ms) || !required && saidMissing(tries) {
			return f.failure(path, tries, attempts, last, required)
		}
	}
}

// setTry records u's latest failure, keeping the order mirrors were first
// tried in.
func setTry(tries []mirrorTry, u string, err error) []mirrorTry {
	for i := range tries {
		if tries[i].url == u {
			tries[i].err = err
			return tries
		}
	}
	return append(tries, mirrorTry{u, err})
}

// saidMissing reports whether a mirror said the file is missing.
func saidMissing(tries []mirrorTry) bool {
	for _, t := range tries {
		if errors.Is(t.err, ErrMissing) {
			return true
		}
	}
	return false
}

// failure is the error of a request that failed everywhere.
func (f *fetcher) failure(path string, tries []mirrorTry, attempts int, last error, required bool) error {
	if len(tries) == 1 {
		if attempts > 1 {
			return fmt.Errorf("pull %s: fetch %s (after %d attempts): %w", f.remote, tries[0].url, attempts, last)
		}
		return fmt.Errorf("pull %s: fetch %s: %w", f.remote, tries[0].url, last)
	}
	// A file that must exist is missing only when every mirror said
	// so: one that failed otherwise may well have it. One that need not
	// exist (a signature, a delta index) is missing when a mirror said
	// so, as ostree takes the answer of the last mirror it asks.
	why := last
	for _, t := range tries {
		if errors.Is(t.err, ErrMissing) != required {
			why = t.err
		}
	}
	return &mirrorsError{remote: f.remote, path: path, key: f.mirrors.key, attempts: attempts, tries: tries, err: why}
}
