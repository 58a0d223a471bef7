package repo

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/repofs/repofs/tmpdir"
)

// SummaryIndexCache is where a remote's summary.idx is cached, as
// SummaryCache caches its summary: tmp/cache/summaries/REMOTE.idx, with
// REMOTE.idx.sig beside it (the names Flatpak gives its own cache).
func (r *Repo) SummaryIndexCache(remote string) *SummaryCache {
	return &SummaryCache{filepath.Join(r.path, "tmp", tmpdir.CacheDir, "summaries", remote+".idx")}
}

// SubsummaryCache keeps the last subsummary of each name a remote's index
// led to, as tmp/cache/summaries/REMOTE-NAME-DIGEST.sub (Flatpak's names):
// the next pull either finds the current one there or applies a .delta to
// it. Files are checked against their digest when read.
type SubsummaryCache struct {
	dir, remote string
}

// SubsummaryCache returns the subsummary cache of remote.
func (r *Repo) SubsummaryCache(remote string) *SubsummaryCache {
	return &SubsummaryCache{filepath.Join(r.path, "tmp", tmpdir.CacheDir, "summaries"), remote}
}

// cacheableName reports whether a subsummary name can be part of a file
// name.
func cacheableName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "/\x00") && name[0] != '.'
}

func (c *SubsummaryCache) path(name string, digest Checksum) string {
	return filepath.Join(c.dir, c.remote+"-"+name+"-"+digest.String()+".sub")
}

// Read returns the cached subsummary name with that digest, if there is
// one and its bytes match; a mismatching file is removed.
func (c *SubsummaryCache) Read(name string, digest Checksum) ([]byte, bool) {
	if !cacheableName(name) {
		return nil, false
	}
	p := c.path(name, digest)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	if sha256.Sum256(data) != digest {
		os.Remove(p)
		return nil, false
	}
	return data, true
}

// Store caches a subsummary, verified by the caller against digest, and
// drops the older ones of the same name. Best effort, like SummaryCache.
func (c *SubsummaryCache) Store(name string, digest Checksum, data []byte) {
	if !cacheableName(name) || !writeCacheFile(c.path(name, digest), data, "", time.Time{}) {
		return
	}
	keep := filepath.Base(c.path(name, digest))
	old, _ := filepath.Glob(filepath.Join(c.dir, globEscape(c.remote+"-"+name+"-")+"*.sub"))
	for _, p := range old {
		b := filepath.Base(p)
		hex := strings.TrimSuffix(b[len(c.remote)+len(name)+2:], ".sub")
		if b != keep && IsChecksum(hex) {
			os.Remove(p)
		}
	}
}

// globEscape quotes the metacharacters of filepath.Match.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
