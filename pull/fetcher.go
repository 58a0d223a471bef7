package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
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

// fetcher talks to one remote over HTTP.
type fetcher struct {
	remote  string
	base    *url.URL
	client  *http.Client
	retries int
	slow    LowSpeed     // the low-speed limit (see guard)
	bytes   atomic.Int64 // transferred
}

func newFetcher(remote, rawURL string, retries int) (*fetcher, error) {
	u, err := url.Parse(strings.TrimSuffix(rawURL, "/") + "/")
	local := err == nil && u.Scheme == "file"
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && !local) || local && (u.Host != "" || !strings.HasPrefix(u.Path, "/")) {
		return nil, fmt.Errorf("pull %s: URL %q: only http://, https:// and file:///ABSOLUTE/PATH remotes can be pulled", remote, rawURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = stallTimeout
	tr.DisableCompression = true // objects are compressed already; keep lengths honest for Range
	if local {
		// file:// goes through the same code: 404 for a missing file,
		// Range answered from the file.
		tr.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
	}
	return &fetcher{remote: remote, base: u, client: &http.Client{Transport: tr}, retries: retries,
		slow: LowSpeed{Bytes: defaultLowSpeedBytes, Time: stallTimeout}}, nil
}

func (f *fetcher) url(path string) string {
	return f.base.ResolveReference(&url.URL{Path: path}).String()
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
	data, _, err := f.getIf(ctx, path, max, validator{})
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
	notModified := false
	err = f.do(ctx, path, func(ctx context.Context, u string) (int, error) {
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
		resp, err := f.client.Do(req)
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
	err = f.do(ctx, path, func(ctx context.Context, u string) (int, error) {
		var have int64
		if mayExist {
			if st, err := os.Stat(p); err == nil {
				have = st.Size()
			} else if !errors.Is(err, fs.ErrNotExist) {
				return 0, permanent(err)
			}
		}
		mayExist = true // a failed attempt may leave part of the body
		rctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, err
		}
		if have > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
		}
		resp, err := f.client.Do(req)
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
			if have == 0 && want >= 0 && want <= small {
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
			if completeLength(resp) == have {
				// p holds as many bytes as the object has: all of it,
				// unless they are wrong, which verifying it will tell.
				mem, size, resumed = nil, have, true
				return http.StatusOK, nil
			}
			// What we have is not a prefix of the object: start over, at once.
			if err := os.Remove(p); err != nil {
				return 0, permanent(err)
			}
			return 0, errRestart
		default:
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			return resp.StatusCode, nil
		}
		out, err := os.OpenFile(p, flags, 0o644)
		if err != nil {
			return 0, permanent(err)
		}
		body := f.guard(resp.Body, cancel)
		defer body.Stop()
		n, err := io.Copy(fileWriter{out}, body)
		f.bytes.Add(n)
		if cerr := out.Close(); err == nil && cerr != nil {
			return 0, permanent(fmt.Errorf("write %s: %w", p, cerr))
		}
		if err != nil {
			var perm *permanentError
			if errors.As(err, &perm) && want >= 0 {
				return 0, permanent(fmt.Errorf("%w (the object is %d bytes; %d of them were on disk)", err, have+want, have+n))
			} else if errors.As(err, &perm) {
				return 0, err
			}
			return 0, readErr(body, err, n, want)
		}
		if want >= 0 && n != want {
			return 0, readErr(body, nil, n, want)
		}
		mem, size, resumed = nil, have+n, have > 0
		return resp.StatusCode, nil
	})
	return mem, size, resumed, err
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

// do runs attempt with retries; every final error names the remote and URL.
func (f *fetcher) do(ctx context.Context, path string, attempt func(context.Context, string) (int, error)) error {
	u := f.url(path)
	var last error
	restarted := false
	for n := 0; ; n++ {
		if n > 0 {
			if err := backoff(ctx, n); err != nil {
				return fmt.Errorf("pull %s: fetch %s: %w", f.remote, u, err)
			}
		}
		status, err := attempt(ctx, u)
		if errors.Is(err, errRestart) && !restarted {
			restarted = true
			status, err = attempt(ctx, u)
		}
		if err == nil && status == http.StatusOK || err == nil && status == http.StatusPartialContent {
			return nil
		}
		var perm *permanentError
		if ctx.Err() != nil {
			return fmt.Errorf("pull %s: fetch %s: %w", f.remote, u, ctx.Err())
		}
		if err == nil {
			last = &httpError{status}
		} else {
			last = err
		}
		if errors.As(err, &perm) || !retryable(status, err) || n >= f.retries {
			if n > 0 {
				return fmt.Errorf("pull %s: fetch %s (after %d attempts): %w", f.remote, u, n+1, last)
			}
			return fmt.Errorf("pull %s: fetch %s: %w", f.remote, u, last)
		}
	}
}
