package repo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/tmpdir"
)

// TestSummaryCache: ostree's layout, the validators kept with the summary,
// a .sig kept in step, and no cache without a validator.
func TestSummaryCache(t *testing.T) {
	r, err := Init(filepath.Join(t.TempDir(), "repo"), ModeArchive)
	if err != nil {
		t.Fatal(err)
	}
	c := r.SummaryCache("origin")
	path := filepath.Join(r.Path(), "tmp", tmpdir.CacheDir, "summaries", "origin")
	if _, _, _, err := c.Read(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty cache: %v", err)
	}
	lm := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	c.Store([]byte("summary"), `"etag"`, lm, []byte("sig"))
	data, etag, got, err := c.Read()
	if err != nil || string(data) != "summary" || !got.Equal(lm) {
		t.Fatalf("Read = %q, %v, %v; want the stored summary and its Last-Modified", data, got, err)
	}
	if etagStored(path) && etag != `"etag"` {
		t.Errorf("etag %q, want the stored one", etag)
	}
	if b, err := os.ReadFile(path + ".sig"); err != nil || !bytes.Equal(b, []byte("sig")) {
		t.Errorf("cached .sig: %q, %v", b, err)
	}
	c.StoreSig(nil) // the summary has no signature now
	if _, err := os.Stat(path + ".sig"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a .sig of another summary stayed: %v", err)
	}
	c.Store([]byte("other"), "", time.Time{}, nil) // no validator: not cached
	for _, p := range []string{path, path + ".sig"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s stayed after a summary with no validator: %v", p, err)
		}
	}
	c.Store([]byte("summary"), "", lm, []byte("sig"))
	c.Invalidate()
	for _, p := range []string{path, path + ".sig"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s stayed after Invalidate: %v", p, err)
		}
	}
}

// etagStored reports whether path has a user.etag xattr: a file system
// without user xattrs caches the summary without it.
func etagStored(path string) bool {
	_, err := unix.Getxattr(path, etagXattr, nil)
	return err == nil
}
