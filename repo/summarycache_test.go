package repo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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

// TestSummaryCacheReadWhileStored: a Read racing Stores (concurrent pulls
// of one remote) returns a summary with its own validators, never an
// older summary with a newer Last-Modified, which a server would answer
// with a 304 and so keep the older summary in use.
func TestSummaryCacheReadWhileStored(t *testing.T) {
	r, err := Init(filepath.Join(t.TempDir(), "repo"), ModeArchive)
	if err != nil {
		t.Fatal(err)
	}
	c := r.SummaryCache("origin")
	base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	c.Store([]byte("0"), "", base, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 500; i++ {
			c.Store([]byte(fmt.Sprint(i)), "", base.Add(time.Duration(i)*time.Second), nil)
		}
	}()
	reads := 0
	for ; ; reads++ {
		select {
		case <-done:
		default:
			data, _, lm, err := c.Read()
			if err != nil {
				t.Errorf("read %d: %v", reads, err)
			} else if want := base.Add(time.Duration(mustAtoi(t, string(data))) * time.Second); !lm.Equal(want) {
				t.Errorf("read summary %q with Last-Modified %v, want %v", data, lm, want)
			}
			if !t.Failed() {
				continue
			}
			<-done
		}
		break
	}
	if reads == 0 {
		t.Error("no read ran while the summaries were stored")
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Errorf("%q: %v", s, err)
	}
	return n
}
