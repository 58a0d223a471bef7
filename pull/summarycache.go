package pull

import (
	"bytes"
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
// server says it has not changed. keep, called once the caller has checked
// the summary (with sig, its summary.sig, nil for none), stores it in the
// cache: a summary that failed verification is never cached. A pull from
// another URL (--url) neither reads nor writes the remote's cache.
func (p *puller) fetchSummary(ctx context.Context) (data []byte, keep func(sig []byte), err error) {
	if p.o.URL != "" {
		data, _, err := p.f.getIf(ctx, "summary", maxMetadataFetch, validator{})
		return data, func([]byte) {}, err
	}
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
		return nil, nil, err
	}
	if data == nil && cerr == nil {
		return cached, func(sig []byte) { cacheSummarySig(cp, sig) }, nil // 304
	}
	return data, func(sig []byte) {
		if v := got; (v.etag == "" && v.lastModified.IsZero()) || !writeCache(cp, data, v) {
			// Not cached: nor may an older summary stay, next to a .sig
			// that is not its own.
			os.Remove(cp)
			os.Remove(cp + ".sig")
			return
		}
		cacheSummarySig(cp, sig)
	}, nil
}

// cacheSummarySig keeps ostree's REMOTE.sig next to the cached summary in
// step with it: ostree takes the cached summary when the server's
// summary.sig equals REMOTE.sig, so a .sig of another summary must go.
func cacheSummarySig(cp string, sig []byte) {
	if old, err := os.ReadFile(cp + ".sig"); err == nil && bytes.Equal(old, sig) {
		return
	}
	if sig == nil || !writeCache(cp+".sig", sig, validator{}) {
		os.Remove(cp + ".sig")
	}
}

// writeCache stores a cache file, with the server's validator (ETag as an
// xattr, Last-Modified as the mtime), by a rename, so a reader sees the old
// file or the new one. No fsync: a cache lost in a crash is fetched again.
func writeCache(path string, data []byte, v validator) bool {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return false
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil && v.etag != "" {
		// Without it the next pull sends no If-None-Match: still correct.
		unix.Fsetxattr(int(f.Fd()), etagXattr, []byte(v.etag), 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !v.lastModified.IsZero() {
		err = os.Chtimes(f.Name(), time.Now(), v.lastModified)
	}
	return err == nil && os.Rename(f.Name(), path) == nil
}
