package pull

import (
	"context"
	"crypto/sha256"
	"io"
	"sync/atomic"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// fetchPart downloads a delta part of exactly size bytes (as its
// superblock declares) into the file p, resuming what p holds with a Range
// request, as fetchObject does for large objects (resumable): a server
// sending more than size bytes fails the download, and p is dropped;
// nothing past the declared size is ever written. done counts the part's
// bytes on disk, resumed ones included.
func (f *fetcher) fetchPart(ctx context.Context, path, p string, size int64, done *atomic.Int64) error {
	return f.do(ctx, path, true, func(ctx context.Context, u string) (int, error) {
		_, _, _, status, err := f.resumable(ctx, u, download{p: p, mayExist: true, small: -1, size: size, done: done})
		return status, err
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
