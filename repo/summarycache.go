package repo

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/tmpdir"
)

// etagXattr holds the server's ETag of a cached summary, as in ostree.
const etagXattr = "user.etag"

// SummaryCache is where ostree caches a remote's summary,
// tmp/cache/summaries/REMOTE, with the server's ETag in the user.etag
// xattr and its Last-Modified as the file's mtime, so that a pull with
// nothing new costs one 304; REMOTE.sig beside it is the summary.sig the
// summary came with. Writes are best effort: a cache lost or not written
// is fetched again.
type SummaryCache struct {
	path string
}

// SummaryCache returns the cache of remote's summary.
func (r *Repo) SummaryCache(remote string) *SummaryCache {
	return &SummaryCache{filepath.Join(r.path, "tmp", tmpdir.CacheDir, "summaries", remote)}
}

// Read returns the cached summary and the server's validators it was
// stored with (empty when it had none); an error when nothing is cached.
// All three come from one open file: a Store (another pull) renaming a
// newer summary in between must not pair the older summary with the newer
// validators, which the server would answer with a 304.
func (c *SummaryCache) Read() (data []byte, etag string, lastModified time.Time, err error) {
	f, err := os.Open(c.path)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", time.Time{}, err
	}
	if data, err = io.ReadAll(f); err != nil {
		return nil, "", time.Time{}, err
	}
	buf := make([]byte, 512)
	if n, err := unix.Fgetxattr(int(f.Fd()), etagXattr, buf); err == nil {
		etag = string(buf[:n])
	}
	return data, etag, st.ModTime(), nil
}

// Store caches a summary fetched with the server's validators, and sig,
// its summary.sig (nil: none). Without a validator it cannot be
// revalidated, so it is not cached.
func (c *SummaryCache) Store(data []byte, etag string, lastModified time.Time, sig []byte) {
	if (etag == "" && lastModified.IsZero()) || !writeCacheFile(c.path, data, etag, lastModified) {
		// Nor may an older summary stay, next to a .sig that is not its own.
		c.Invalidate()
		return
	}
	c.StoreSig(sig)
}

// StoreSig keeps REMOTE.sig in step with the cached summary (sig nil: the
// server has none): ostree takes the cached summary when the server's
// summary.sig equals REMOTE.sig, so a .sig of another summary must go.
func (c *SummaryCache) StoreSig(sig []byte) {
	sp := c.path + ".sig"
	if old, err := os.ReadFile(sp); err == nil && bytes.Equal(old, sig) {
		return
	}
	if sig == nil || !writeCacheFile(sp, sig, "", time.Time{}) {
		os.Remove(sp)
	}
}

// Invalidate drops the cached summary and its .sig: the next fetch is a
// full one.
func (c *SummaryCache) Invalidate() {
	os.Remove(c.path)
	os.Remove(c.path + ".sig")
}

// writeCacheFile stores a cache file, with the server's validators (ETag
// as an xattr, Last-Modified as the mtime), by a rename, so a reader sees
// the old file or the new one. No fsync: a cache lost in a crash is fetched
// again.
func writeCacheFile(path string, data []byte, etag string, lastModified time.Time) bool {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return false
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil && etag != "" {
		// Without it the next fetch sends no If-None-Match: still correct.
		unix.Fsetxattr(int(f.Fd()), etagXattr, []byte(etag), 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !lastModified.IsZero() {
		err = os.Chtimes(f.Name(), time.Now(), lastModified)
	}
	return err == nil && os.Rename(f.Name(), path) == nil
}
