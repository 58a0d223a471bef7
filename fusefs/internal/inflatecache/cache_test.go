package inflatecache

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
	"github.com/repofs/repofs/repo"
)

// largeFiles makes an archive repository with the given large files at
// the root and returns a content cache on it with these bounds, and each
// file's content checksum and bytes, in name order.
func largeFiles(t *testing.T, maxDisk, window int64, sizes ...int64) (*Cache, []repo.Checksum, [][]byte) {
	t.Helper()
	var entries []repotest.Entry
	var data [][]byte
	for i, n := range sizes {
		p := string(rune('a' + i))
		d := repotest.Pseudorandom(p, n)
		entries = append(entries, repotest.Entry{Path: p, Kind: repotest.File, Data: d})
		data = append(data, d)
	}
	repoPath, c := testrepo.NewRepo(t, "archive", entries)
	r, tree := rootTree(t, repoPath, c)
	var cs []repo.Checksum
	for _, f := range tree.Files {
		cs = append(cs, f.Content)
	}
	cc := New(r, t.TempDir(), maxDisk, 1<<20)
	cc.window = window
	return cc, cs, data
}

// rootTree opens a repository and reads the root tree of commit c.
func rootTree(t *testing.T, repoPath, c string) (*repo.Repo, *repo.DirTree) {
	t.Helper()
	r, err := repo.Open(repoPath)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := repo.ParseChecksum(c)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := r.ReadCommit(sum)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := r.ReadDirTree(commit.RootTree)
	if err != nil {
		t.Fatal(err)
	}
	return r, tree
}

// contentObject is the path of archive content object c.
func contentObject(repoPath string, c repo.Checksum) string {
	h := c.String()
	return filepath.Join(repoPath, "objects", h[:2], h[2:]+".filez")
}

// read is one read as the mount makes it: acquire, read, release.
func (cc *Cache) read(t *testing.T, c repo.Checksum, size int64, p []byte, off int64) (*Entry, int, error) {
	t.Helper()
	e, err := cc.Acquire(c, size)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Release(e, false)
	n, err := e.ReadAt(p, off)
	return e, n, err
}

// TestCacheStreamsBeyondBound: a file larger than the disk bound is
// streamed, so reading it sequentially inflates it once instead of from
// byte 0 for every READ (quadratic), reads a little out of order are
// served from its window, one further back starts a new pass, and the
// disk bound holds throughout.
func TestCacheStreamsBeyondBound(t *testing.T) {
	const size, step = 3<<20 + 12345, 128 << 10
	cc, cs, data := largeFiles(t, 2<<20, 512<<10, size)
	c := cs[0]
	p := make([]byte, step)
	var first *Entry
	for off := int64(0); off < size; off += step {
		e, n, err := cc.read(t, c, size, p, off)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if want := data[0][off:min(off+step, size)]; !bytes.Equal(p[:n], want) {
			t.Fatalf("read at %d: %d bytes differ from the file's %d", off, n, len(want))
		}
		if first == nil {
			first = e
		} else if e != first {
			t.Fatalf("read at %d: the entry was evicted between READs", off)
		}
		if e.file != nil || cc.disk > cc.maxDisk {
			t.Fatalf("read at %d: on disk (%d bytes) beyond the bound %d", off, cc.disk, cc.maxDisk)
		}
		// The kernel's read-ahead may send the READ before last after
		// this one: still in the window.
		if off >= step {
			if _, n, err := cc.read(t, c, size, p, off-step); err != nil || !bytes.Equal(p[:n], data[0][off-step:off]) {
				t.Fatalf("read back at %d: %d bytes, %v", off-step, n, err)
			}
		}
	}
	if first.restarts != 0 {
		t.Errorf("sequential read restarted %d times", first.restarts)
	}
	if _, n, err := cc.read(t, c, size, p, size); n != 0 || err != nil {
		t.Errorf("read at the end: %d bytes, %v", n, err)
	}
	if !first.verified {
		t.Error("read to its end, the object is not verified")
	}
	// Behind the window: a new pass, the right bytes.
	if _, n, err := cc.read(t, c, size, p, 1000); err != nil || !bytes.Equal(p[:n], data[0][1000:1000+step]) {
		t.Fatalf("read at 1000 after the end: %d bytes, %v", n, err)
	}
	if first.restarts != 1 {
		t.Errorf("read behind the window: %d restarts, want 1", first.restarts)
	}
}

// TestCacheGrace: two large files read in turn, which together exceed the
// disk bound, are neither evicted between their READs nor inflated again:
// the one that fits is kept on disk, the other streamed. Once its grace
// has passed, an idle one makes room for a new file.
func TestCacheGrace(t *testing.T) {
	const size, step = 1<<20 + 777, 64 << 10
	cc, cs, data := largeFiles(t, 3<<20/2, 256<<10, size, size, size)
	p := make([]byte, step)
	entries := map[repo.Checksum]*Entry{}
	for off := int64(0); off < size; off += step {
		for i, c := range cs[:2] {
			e, n, err := cc.read(t, c, size, p, off)
			if err != nil || !bytes.Equal(p[:n], data[i][off:min(off+step, size)]) {
				t.Fatalf("file %d, read at %d: %d bytes, %v", i, off, n, err)
			}
			if old := entries[c]; old != nil && old != e {
				t.Fatalf("file %d, read at %d: evicted between READs", i, off)
			}
			entries[c] = e
			if cc.disk > cc.maxDisk {
				t.Fatalf("on disk %d bytes, beyond the bound %d", cc.disk, cc.maxDisk)
			}
		}
	}
	a, b := entries[cs[0]], entries[cs[1]]
	if a.file == nil || b.window == nil || a.restarts+b.restarts != 0 {
		t.Fatalf("first on disk %v, second streamed %v, %d restarts; want true, true, 0",
			a.file != nil, b.window != nil, a.restarts+b.restarts)
	}
	// In its grace, the first keeps its place: the third streams.
	e, _, err := cc.read(t, cs[2], size, p, 0)
	if err != nil || e.window == nil || cc.m[cs[0]] != a {
		t.Fatalf("third file in the first's grace: streamed %v, first kept %v, %v", e.window != nil, cc.m[cs[0]] == a, err)
	}
	// Past every grace, the third, streamed, idle, is made again on
	// disk, in the first's place.
	cc.grace = 0
	e, n, err := cc.read(t, cs[2], size, p, 0)
	if err != nil || !bytes.Equal(p[:n], data[2][:step]) {
		t.Fatalf("third file: %d bytes, %v", n, err)
	}
	if e.file == nil || cc.m[cs[0]] == a {
		t.Errorf("past the grace, third on disk %v, first evicted %v; want both", e.file != nil, cc.m[cs[0]] != a)
	}
}

// TestCacheUnreadStreamedGoesToDisk: a file streamed because the disk
// bound was full when read-ahead took it, and not read since, is made
// again on disk at its first READ once there is room, so that its reader
// may go back without starting over.
func TestCacheUnreadStreamedGoesToDisk(t *testing.T) {
	const size = 1<<20 + 99
	cc, cs, data := largeFiles(t, 3<<20/2, 256<<10, size, size)
	p := make([]byte, 64<<10)
	a, _, err := cc.read(t, cs[0], size, p, 0)
	if err != nil || a.file == nil {
		t.Fatalf("first file: on disk %v, %v", a.file != nil, err)
	}
	b, err := cc.Acquire(cs[1], size) // as read-ahead takes it
	if err != nil || b.window == nil {
		t.Fatalf("second file while the first is in its grace: streamed %v, %v", b.window != nil, err)
	}
	cc.Release(b, true)
	cc.mu.Lock()
	a.used = a.used.Add(-2 * cc.grace)
	cc.mu.Unlock()
	e, n, err := cc.read(t, cs[1], size, p, 0)
	if err != nil || !bytes.Equal(p[:n], data[1][:len(p)]) {
		t.Fatalf("second file: %d bytes, %v", n, err)
	}
	if e.file == nil || cc.m[cs[0]] == a {
		t.Errorf("second file once the first is past its grace: on disk %v, first evicted %v; want both", e.file != nil, cc.m[cs[0]] != a)
	}
	// A streamed file in the middle of its reader's pass stays streamed.
	cc2, cs2, _ := largeFiles(t, 1<<20, 256<<10, 2<<20)
	s, _, _ := cc2.read(t, cs2[0], 2<<20, p, 0)
	cc2.maxDisk = 4 << 20 // room now, but its reader is at work
	if s2, _, _ := cc2.read(t, cs2[0], 2<<20, p, int64(len(p))); s2 != s || s.restarts != 0 {
		t.Errorf("a streamed file mid-pass was made again (same entry %v, %d restarts)", s2 == s, s.restarts)
	}
}

// TestCacheMakeRoom: a new large file that would not fit even with every
// idle file past its grace evicted is streamed, and evicts none of them;
// one that fits once they are evicted evicts them, least recent first.
func TestCacheMakeRoom(t *testing.T) {
	const mib = 1 << 20
	cc, cs, _ := largeFiles(t, 7*mib/2, 256<<10, 3*mib/2, 6*mib/5, 5*mib/2, 2*mib)
	p := make([]byte, 4096)
	a, _, _ := cc.read(t, cs[0], 3*mib/2, p, 0)
	b, _, _ := cc.read(t, cs[1], 6*mib/5, p, 0)
	if a.file == nil || b.file == nil {
		t.Fatal("the first two files are not on disk")
	}
	cc.mu.Lock()
	b.used = b.used.Add(-2 * cc.grace) // b is past its grace, a is not
	cc.mu.Unlock()
	c, _, _ := cc.read(t, cs[2], 5*mib/2, p, 0)
	if c.window == nil || cc.m[cs[1]] != b {
		t.Fatalf("a file that cannot fit: streamed %v, the idle one kept %v; want both", c.window != nil, cc.m[cs[1]] == b)
	}
	d, _, _ := cc.read(t, cs[3], 2*mib, p, 0)
	if d.file == nil || cc.m[cs[1]] == b || cc.m[cs[0]] != a {
		t.Errorf("a file that fits once the idle one is gone: on disk %v, idle one evicted %v, the one in its grace kept %v; want all",
			d.file != nil, cc.m[cs[1]] != b, cc.m[cs[0]] == a)
	}
	if cc.disk > cc.maxDisk {
		t.Errorf("%d bytes on disk, beyond the bound %d", cc.disk, cc.maxDisk)
	}
}

// TestCacheStreamedCorrupt: a truncated object that is streamed fails its
// READs with ErrCorrupt, and the bytes before the damage are the file's.
func TestCacheStreamedCorrupt(t *testing.T) {
	const size, step = 2 << 20, 128 << 10
	cc, cs, data := largeFiles(t, 1<<20, 512<<10, size)
	obj := contentObject(cc.r.Path(), cs[0])
	z, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(obj, z[:len(z)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, step)
	var failed error
	for off := int64(0); off <= size && failed == nil; off += step {
		var n int
		_, n, failed = cc.read(t, cs[0], size, p, off)
		if failed == nil && !bytes.Equal(p[:n], data[0][off:min(off+step, size)]) {
			t.Fatalf("read at %d: wrong bytes, no error", off)
		}
	}
	if failed == nil {
		t.Fatal("a damaged object was read to its end without an error")
	}
	if !errors.Is(failed, repo.ErrCorrupt) {
		t.Errorf("error %v does not wrap repo.ErrCorrupt", failed)
	}
}

// TestCacheRecyclesBuffers: with a memory bound that holds a few small
// files, reading many of them in turn, and again, recycles the buffers of
// evicted ones for the next, and every READ still gets its own file's
// bytes, however long the buffer's last file was.
func TestCacheRecyclesBuffers(t *testing.T) {
	var entries []repotest.Entry
	var data [][]byte
	for i := range 60 {
		// Sizes that share capacity classes, shorter and longer in turn.
		n := int64(1 + (i*7919)%(20<<10))
		d := repotest.Pseudorandom(fmt.Sprint(i), n)
		entries = append(entries, repotest.Entry{Path: fmt.Sprintf("f%02d", i), Kind: repotest.File, Data: d})
		data = append(data, d)
	}
	repoPath, c := testrepo.NewRepo(t, "archive", entries)
	r, tree := rootTree(t, repoPath, c)
	cc := New(r, t.TempDir(), 1<<20, 64<<10)
	p := make([]byte, 32<<10)
	for round := range 3 {
		for j := range tree.Files {
			i := (j*37 + round*11) % len(tree.Files) // names sort as f00..f59
			size := int64(len(data[i]))
			e, n, err := cc.read(t, tree.Files[i].Content, size, p, 0)
			if err != nil || !bytes.Equal(p[:n], data[i]) {
				t.Fatalf("round %d, f%02d: %d of %d bytes right: %v", round, i, n, size, err)
			}
			if int64(len(e.mem)) != size && e.mem != nil {
				t.Fatalf("f%02d: buffer of %d bytes for a file of %d", i, len(e.mem), size)
			}
		}
		if cc.mem > cc.maxMem+int64(len(p)) {
			t.Errorf("round %d: %d bytes held, bound %d", round, cc.mem, cc.maxMem)
		}
	}
}

// TestCacheVerified: Verified tells an entry inflated whole and verified
// from one not yet inflated, and takes no reference: an idle entry it was
// asked about is still evicted. Stats counts what is held.
func TestCacheVerified(t *testing.T) {
	entries := []repotest.Entry{
		{Path: "a", Kind: repotest.File, Data: repotest.Pseudorandom("a", 5000)},
		{Path: "b", Kind: repotest.File, Data: repotest.Pseudorandom("b", 5000)},
	}
	repoPath, c := testrepo.NewRepo(t, "archive", entries)
	r, tree := rootTree(t, repoPath, c)
	a, b := tree.Files[0].Content, tree.Files[1].Content
	cc := New(r, t.TempDir(), 1<<20, 8<<10) // room for one buffer of 8 KiB
	e, err := cc.Acquire(a, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Verified(a) {
		t.Error("an entry not inflated yet: verified")
	}
	if err := e.InflateTo(5000); err != nil {
		t.Fatal(err)
	}
	cc.Release(e, false)
	if !cc.Verified(a) {
		t.Error("an idle entry inflated whole: not verified")
	}
	if st := cc.Stats(); st.Entries != 1 || st.Mem != 8<<10 || st.Disk != 0 {
		t.Errorf("stats %+v, want 1 entry, 8 KiB in memory", st)
	}
	// b's buffer does not fit beside a's, which nobody holds.
	e, err = cc.Acquire(b, 5000)
	if err != nil {
		t.Fatal(err)
	}
	cc.Release(e, false)
	if cc.Verified(a) {
		t.Error("an evicted entry: verified")
	}
}
