package pull

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// fetchPart downloads a delta part of exactly size bytes (as its
// superblock declares) into the file p, resuming what p holds with a Range
// request (206: append; 200: start over; 416: drop p and start over). A
// server sending more than size bytes fails the download, and p is
// dropped: nothing past the declared size is ever written. done counts the
// part's bytes on disk, resumed ones included. The transfer runs under the
// low-speed limit, and a failed write to p is not retried, as in
// fetchObject.
func (f *fetcher) fetchPart(ctx context.Context, path, p string, size int64, done *atomic.Int64) error {
	return f.do(ctx, path, true, func(ctx context.Context, u string) (int, error) {
		var have int64
		if st, err := os.Stat(p); err == nil {
			have = st.Size()
		} else if !errors.Is(err, fs.ErrNotExist) {
			return 0, permanent(err)
		}
		if have > size {
			if err := os.Remove(p); err != nil {
				return 0, permanent(err)
			}
			have = 0
		}
		if have == size {
			done.Add(have)
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
		resp, err := f.client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		flags := os.O_WRONLY | os.O_CREATE
		switch resp.StatusCode {
		case http.StatusPartialContent:
			if have == 0 || !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", have)) {
				return 0, fmt.Errorf("206 with Content-Range %q for bytes=%d-", resp.Header.Get("Content-Range"), have)
			}
			flags |= os.O_APPEND
		case http.StatusOK:
			flags |= os.O_TRUNC
			have = 0
		case http.StatusRequestedRangeNotSatisfiable:
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			if have == 0 {
				return resp.StatusCode, nil
			}
			if err := os.Remove(p); err != nil {
				return 0, permanent(err)
			}
			return 0, errRestart
		default:
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			return resp.StatusCode, nil
		}
		want := resp.ContentLength
		out, err := os.OpenFile(p, flags, 0o644)
		if err != nil {
			return 0, permanent(err)
		}
		done.Add(have)
		body := f.guard(resp.Body, cancel)
		defer body.Stop()
		n, err := io.Copy(&countWriter{fileWriter{out}, done}, io.LimitReader(body, size-have+1))
		f.bytes.Add(n)
		if cerr := out.Close(); err == nil && cerr != nil {
			err = permanent(fmt.Errorf("write %s: %w", p, cerr))
		}
		if have+n > size {
			os.Remove(p)
			return 0, permanent(fmt.Errorf("the server sent more than the %d bytes its superblock declares", size))
		}
		if err != nil {
			done.Add(-(have + n)) // counted again by the next attempt
			var perm *permanentError
			if errors.As(err, &perm) {
				return 0, err
			}
			return 0, readErr(body, err, have+n, size)
		}
		if want >= 0 && n != want || have+n != size {
			done.Add(-(have + n))
			return 0, readErr(body, nil, have+n, size)
		}
		return resp.StatusCode, nil
	})
}

// countWriter adds what it writes to n.
type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}
