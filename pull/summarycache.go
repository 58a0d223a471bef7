package pull

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// The summary cache is where ostree keeps it, tmp/cache/summaries/REMOTE,
// with the server's ETag in the user.etag xattr and its Last-Modified as
// the file's mtime, so that a pull with nothing new costs one 304.
const etagXattr = "user.etag"

func (p *puller) summaryCachePath() string {
	return filepath.Join(p.r.Path(), "tmp", "cache", "summaries", p.o.Remote)
}

// fetchSummary returns the remote's summary, from the cache when the
// server says it has not changed.
func (p *puller) fetchSummary(ctx context.Context) ([]byte, error) {
	cp := p.summaryCachePath()
	var have validator
	cached, cerr := os.ReadFile(cp)
	if cerr == nil {
		buf := make([]byte, 512)
		if n, err := unix.Getxattr(cp, etagXattr, buf); err == nil {
			have.etag = string(buf[:n])
		}
		if st, err := os.Stat(cp); err == nil {
			have.lastModified = st.ModTime()
		}
	}
	data, got, err := p.f.getIf(ctx, "summary", maxMetadataFetch, have)
	if err != nil {
		return nil, err
	}
	if data == nil && cerr == nil {
		return cached, nil // 304
	}
	p.cacheSummary(cp, data, got)
	return data, nil
}

// cacheSummary stores a summary for the next pull; failing to is not an
// error (the next pull just fetches it again).
func (p *puller) cacheSummary(cp string, data []byte, v validator) {
	if v.etag == "" && v.lastModified.IsZero() {
		return
	}
	if err := os.MkdirAll(filepath.Dir(cp), 0o755); err != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(cp), "."+p.o.Remote+"-*")
	if err != nil {
		return
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return
	}
	if v.etag != "" {
		unix.Fsetxattr(int(f.Fd()), etagXattr, []byte(v.etag), 0)
	}
	f.Close()
	if !v.lastModified.IsZero() {
		os.Chtimes(f.Name(), time.Now(), v.lastModified)
	}
	os.Rename(f.Name(), cp)
}
