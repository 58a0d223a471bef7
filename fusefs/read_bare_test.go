package fusefs

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// TestBareReadAhead follows a cold walk of a bare-user mount: the READ of
// a directory's first file has the disk read the objects of the files
// after it, and of the directories the walk enters next, up to a batch;
// a READ within half a batch of where it ended starts the next one. The
// objects are checked in the page cache (mincore), never read.
func TestBareReadAhead(t *testing.T) {
	sizes := map[string]int{"a": 10, "a/b": 6, "c": 40}
	entries, data := pseudoFiles(sizes, func(i int) int64 { return int64(5000 + i*100) })
	// d/ comes after c/: a large file there is left to the kernel's own
	// read-ahead, the small one after it is not.
	for name, size := range map[string]int64{"d/big": smallFile + 1, "d/small": 3000} {
		data[name] = repotest.Pseudorandom(name, size)
		entries = append(entries, repotest.Entry{Path: name, Kind: repotest.File, Data: data[name]})
	}
	sizes["d"] = 2
	repoPath, c := testrepo.NewRepo(t, "bare-user", entries)
	m, mp := testMount(t, repoPath)
	root := filepath.Join(mp, "commits", c)
	for _, dir := range []string{"", "a", "a/b", "c", "d"} {
		if _, err := os.ReadDir(filepath.Join(root, dir)); err != nil {
			t.Fatal(err)
		}
	}
	node := dirNodes(m, c, []string{"a", "a/b", "c", "d"})
	object := func(dir string, i int) string {
		return contentObject(t, repoPath, node[dir].tree.Files[i].Content)
	}
	// Cold: the objects leave the page cache (the listings above read
	// only their xattrs).
	syscall.Sync()
	for dir, n := range sizes {
		for i := range n {
			p := object(dir, i)
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
			f.Close()
			if resident(t, p) {
				t.Skipf("SKIPPED: %s stays in the page cache after FADV_DONTNEED (tmpfs?); read-ahead NOT CHECKED", p)
			}
		}
	}
	read := func(p string) {
		t.Helper()
		if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || !bytes.Equal(got, data[p]) {
			t.Fatalf("%s: %d bytes, %v", p, len(got), err)
		}
	}
	// cached waits until the objects of files [from, to) of dir are in
	// the page cache.
	cached := func(dir string, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			for deadline := time.Now().Add(30 * time.Second); !resident(t, object(dir, i)); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s/f%02d: object not in the page cache 30s after the READ", dir, i)
				}
			}
		}
	}

	// a/ (9 after f00), then a/b/ (6), then 17 of c/: 32 objects.
	read("a/f00")
	cached("a", 1, 10)
	cached("a/b", 0, 6)
	cached("c", 0, 17)
	waitIdle(t, m)
	if resident(t, object("c", 17)) {
		t.Errorf("c/f17 read ahead past a batch of %d", readAheadFiles)
	}
	// Within the batch, far from its end: nothing more.
	read("c/f00")
	waitIdle(t, m)
	if resident(t, object("c", 17)) {
		t.Errorf("c/f17 read ahead by the READ of c/f00, 17 files before the batch's end")
	}
	// Within half a batch of its end: the rest of c/.
	read("c/f01")
	cached("c", 17, 40)
	cached("d", 1, 2) // small
	waitIdle(t, m)
	if in, _ := residentPages(t, object("d", 0)); in != 0 {
		t.Errorf("d/big: %d pages read ahead, want none of a large file", in)
	}
}
