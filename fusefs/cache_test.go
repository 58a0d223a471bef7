package fusefs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// TestMountStreamsLargeFiles: through a mount whose cache bound holds
// neither, two files larger than the bound read at once come out right,
// each inflated in one pass.
func TestMountStreamsLargeFiles(t *testing.T) {
	repotest.RequireOstree(t)
	const size = 6<<20 + 99
	entries := []repotest.Entry{
		{Path: "a", Kind: repotest.File, Data: repotest.Pseudorandom("a", size)},
		{Path: "b", Kind: repotest.File, Data: repotest.Pseudorandom("b", size)},
	}
	repoPath, c := repotest.NewRepo(t, "archive", entries)
	m, mp := testMountWith(t, repoPath, MountOptions{Options: Options{CacheBytes: 4 << 20}})
	errs := make(chan error, len(entries))
	for _, e := range entries {
		go func() {
			b, err := os.ReadFile(filepath.Join(mp, "commits", c, e.Path))
			if err == nil && !bytes.Equal(b, e.Data) {
				err = fmt.Errorf("%s: %d bytes differ from the file's %d", e.Path, len(b), len(e.Data))
			}
			errs <- err
		}()
	}
	for range entries {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := m.FS.read.(*archiveReader).cache.Stats()
	if st.Disk != 0 {
		t.Errorf("%d bytes on disk, want none: neither file fits", st.Disk)
	}
	if st.Entries != len(entries) || st.Streamed != st.Entries || st.Restarts != 0 {
		t.Errorf("%d entries, %d streamed, %d restarts; want %d, all, 0", st.Entries, st.Streamed, st.Restarts, len(entries))
	}
}
