package fusefs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/repofs/repofs/fusefs/internal/inflatecache"
	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// TestReadAhead: reading the first file of an archive directory inflates
// the next ones in the background, into the content cache, and stores
// them into the kernel's page cache, so that reading them makes no READ;
// the batch's tripwire file does make one, which starts the next batch;
// every file reads back exactly, a damaged object that read-ahead met
// still fails its own read with EIO (and only that one), and a large file
// inflated ahead of its reader reads back exactly too.
func TestReadAhead(t *testing.T) {
	var entries []repotest.Entry
	for i := range 40 {
		entries = append(entries, repotest.Entry{Path: fmt.Sprintf("d/f%02d", i), Kind: repotest.File, Data: repotest.Pseudorandom(fmt.Sprint(i), int64(1000+i*100))})
	}
	big := repotest.Pseudorandom("big", 40<<20)
	entries = append(entries, repotest.Entry{Path: "big", Kind: repotest.File, Data: big})
	repoPath, c := testrepo.NewRepo(t, "archive", entries)

	// Damage f30's object: its payload ends early.
	_, d := commitTree(t, repoPath, c, "d")
	obj := contentObject(t, repoPath, d.Files[30].Content)
	data, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(obj, data[:len(data)-40], 0o644); err != nil {
		t.Fatal(err)
	}

	m, mp := testMount(t, repoPath)
	dir := filepath.Join(mp, "commits", c, "d")
	if _, err := os.ReadDir(dir); err != nil {
		t.Fatal(err)
	}
	ar := m.FS.read.(*archiveReader)
	cached := func(i int) bool { return ar.cache.Verified(d.Files[i].Content) }
	// read reads f<i> and returns the READs it made.
	read := func(i int) uint64 {
		t.Helper()
		before := m.Requests()["READ"]
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("f%02d", i)))
		if i == 30 {
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("damaged f30: %v, want EIO", err)
			}
		} else if err != nil || !bytes.Equal(b, entries[i].Data) {
			t.Errorf("f%02d: %d bytes, %v", i, len(b), err)
		}
		return m.Requests()["READ"] - before
	}
	if n := read(0); n != 1 {
		t.Errorf("f00: %d READs, want 1", n)
	}
	waitIdle(t, m)
	if !cached(1) || !cached(20) {
		t.Errorf("after reading f00, f01 inflated ahead: %v, f20: %v", cached(1), cached(20))
	}
	// The first batch is f01-f32 (readAheadFiles), its tripwire f17; the
	// second, f33-f39, ends the directory and has none.
	const tripwire = 17
	dn := m.FS.root.GetChild("commits").GetChild(c).GetChild("d").Operations().(*dirNode)
	for i := 1; i < 40; i++ {
		if i == tripwire {
			// Every inflater busy, as while the first batch is still
			// inflating: the tripwire's READ leaves the next batch to
			// the first inflater that runs out of work.
			for range cap(ar.slots) {
				ar.slots <- struct{}{}
			}
		}
		n := read(i)
		if i == tripwire {
			if a := dn.ahead.handed.Load(); a != 33 {
				t.Errorf("with every inflater busy, read-ahead got to f%02d, want f33", a)
			}
			// Out of work, on one held slot: it starts the next batch
			// (which frees the slot when done); the test frees the rest.
			(&batch{a: ar, d: dn}).work()
			for range cap(ar.slots) - 1 {
				<-ar.slots
			}
		}
		switch {
		case i == tripwire:
			if n != 1 {
				t.Errorf("tripwire f%02d: %d READs, want 1", i, n)
			}
			waitIdle(t, m)
			if a := dn.ahead.handed.Load(); a != 40 {
				t.Errorf("after the tripwire, read-ahead got to f%02d, want the end", a)
			}
		case i == 30:
			if n == 0 {
				t.Errorf("damaged f30 read without a READ: stored unverified")
			}
		case n != 0:
			t.Errorf("f%02d: %d READs, want none: it was stored into the page cache", i, n)
		}
	}
	// Every object the batches prefetched was read through, or closed.
	if open := repotest.OpenObjects(t, repoPath); len(open) > 0 {
		t.Errorf("read-ahead done, objects still open: %v", open)
	}
	f, err := os.Open(filepath.Join(mp, "commits", c, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, 0, len(big))
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // a reader with work of its own
	}
	if !bytes.Equal(got, big) {
		t.Errorf("big: read %d bytes, not its content", len(got))
	}
}

// TestReadAheadChain follows a walk through a/, a/b/ and c1/ to c4/: a
// READ in a directory whose files are all handed out starts read-ahead in
// the next directory the walk enters, which the kernel knows but has not
// listed. Its listing stores the inflated files into the page cache and
// carries the chain on, chainHops directories in a row; the last of them
// keeps a tripwire, whose READ carries it further.
func TestReadAheadChain(t *testing.T) {
	dirs := []string{"a", "a/b", "c1", "c2", "c3", "c4"}
	counts := map[string]int{}
	for _, dir := range dirs {
		counts[dir] = 6
	}
	entries, data := pseudoFiles(counts, func(i int) int64 { return int64(2000 + i*300) })
	repoPath, c := testrepo.NewRepo(t, "archive", entries)

	m, mp := testMount(t, repoPath)
	root := filepath.Join(mp, "commits", c)
	list := func(dir string) {
		t.Helper()
		if _, err := os.ReadDir(filepath.Join(root, dir)); err != nil {
			t.Fatal(err)
		}
	}
	list("")
	list("a")
	node := dirNodes(m, c, dirs)
	cached := func(dir string) int { return inflatedFiles(m, node[dir]) }
	// inflated waits until every file of dir is inflated ahead.
	inflated := func(dir string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); cached(dir) != 6; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s/: %d of 6 files inflated ahead after 30s", dir, cached(dir))
			}
		}
	}
	// readDir lists dir, waits until its files are in the page cache but
	// for the tripwire, if any, then reads them all and returns the READs.
	readDir := func(dir string, tripwire bool) uint64 {
		t.Helper()
		list(dir)
		for i, f := range node[dir].tree.Files {
			if tripwire && i == len(node[dir].tree.Files)/2 {
				continue
			}
			p := filepath.Join(root, dir, f.Name)
			for deadline := time.Now().Add(30 * time.Second); !resident(t, p); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s not in the page cache 30s after %s/ was listed", p, dir)
				}
			}
		}
		before := m.Requests()["READ"]
		for _, f := range node[dir].tree.Files {
			p := dir + "/" + f.Name
			if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || !bytes.Equal(got, data[p]) {
				t.Errorf("%s: %d bytes, %v", p, len(got), err)
			}
		}
		return m.Requests()["READ"] - before
	}
	for _, dir := range dirs {
		if n := cached(dir); n != 0 {
			t.Fatalf("listing inflated %d files of %s/: read-ahead is for READs", n, dir)
		}
	}
	// Read-ahead takes only files whose metadata is cached: in the
	// directories not listed yet, the descender reads it in the
	// background. Waited for, so that a loaded machine does not make the
	// chain pass files over.
	for _, dir := range dirs {
		for _, f := range node[dir].tree.Files {
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
				if _, ok := m.FS.stats.get(f.Content); ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s/%s: metadata not read ahead after 30s", dir, f.Name)
				}
			}
		}
	}

	if _, err := os.ReadFile(filepath.Join(root, "a/f00")); err != nil {
		t.Fatal(err)
	}
	inflated("a/b")
	waitIdle(t, m)
	if n := cached("c1"); n != 0 {
		t.Errorf("c1/: %d files inflated before a/b/ was listed", n)
	}
	// Listings carry the chain from a/b/ (hop 0) to c3/ (hop 3), which
	// keeps a tripwire; c4/ waits for its READ.
	for i, dir := range []string{"a/b", "c1", "c2"} {
		if n := readDir(dir, false); n != 0 {
			t.Errorf("reading %s/ (hop %d) made %d READs, want none", dir, i, n)
		}
		inflated(dirs[i+2])
	}
	waitIdle(t, m)
	if n := cached("c4"); n != 0 {
		t.Errorf("c4/: %d files inflated with no READ for %d directories", n, chainHops)
	}
	if n := readDir("c3", true); n != 1 {
		t.Errorf("reading c3/ made %d READs, want 1 (the tripwire's)", n)
	}
	inflated("c4")
}

// TestReadAheadSharedContent: files of a commit with the same content
// share one inode; reading one starts read-ahead in the directory the walk
// listed last, where it is reading, not in the one the inode was first
// looked up in.
func TestReadAheadSharedContent(t *testing.T) {
	var entries []repotest.Entry
	shared := repotest.Pseudorandom("shared", 3000)
	for _, dir := range []string{"x", "y"} {
		for i := range 6 {
			data := repotest.Pseudorandom(fmt.Sprintf("%s/f%d", dir, i), int64(2000+i*300))
			if i == 0 {
				data = shared
			}
			entries = append(entries, repotest.Entry{Path: fmt.Sprintf("%s/f%d", dir, i), Kind: repotest.File, Data: data})
		}
	}
	repoPath, c := testrepo.NewRepo(t, "archive", entries)
	m, mp := testMount(t, repoPath)
	root := filepath.Join(mp, "commits", c)
	for _, dir := range []string{"x", "y"} {
		if _, err := os.ReadDir(filepath.Join(root, dir)); err != nil {
			t.Fatal(err)
		}
	}
	cached := func(dir string) int {
		return inflatedFiles(m, m.FS.root.GetChild("commits").GetChild(c).GetChild(dir).Operations().(*dirNode))
	}
	if b, err := os.ReadFile(filepath.Join(root, "y", "f0")); err != nil || !bytes.Equal(b, shared) {
		t.Fatalf("y/f0: %d bytes, %v", len(b), err)
	}
	waitIdle(t, m)
	// x/ has only the shared file inflated, y/ every file.
	if x, y := cached("x"), cached("y"); x != 1 || y != 6 {
		t.Errorf("after reading y/f0: %d files of x/ and %d of y/ inflated, want 1 and 6", x, y)
	}
}

// TestReadAheadInFile: a READ of a large archive file has the bytes after
// it inflated in the background, readAheadLarge ahead of the reader, and
// the read-ahead, once done, leaves nothing listed as running.
func TestReadAheadInFile(t *testing.T) {
	big := repotest.Pseudorandom("big", 40<<20)
	repoPath, c := testrepo.NewRepo(t, "archive", []repotest.Entry{{Path: "big", Kind: repotest.File, Data: big}})
	_, tree := commitTree(t, repoPath, c, "")
	m, mp := testMount(t, repoPath)
	f, err := os.Open(filepath.Join(mp, "commits", c, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	if _, err := f.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, big[:len(buf)]) {
		t.Fatalf("big: first MiB wrong, %v", err)
	}
	ar := m.FS.read.(*archiveReader)
	inflated := func() int64 {
		e := ar.cache.Cached(tree.Files[0].Content)
		if e == nil {
			return 0
		}
		defer ar.cache.Release(e, false)
		return e.Inflated()
	}
	for deadline := time.Now().Add(30 * time.Second); inflated() < readAheadLarge; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes inflated 30s after a READ of the first MiB, want %d", inflated(), readAheadLarge)
		}
	}
	waitIdle(t, m)
	ar.inFileMu.Lock()
	defer ar.inFileMu.Unlock()
	if len(ar.inFile) != 0 {
		t.Errorf("%d in-file read-aheads listed as running once idle", len(ar.inFile))
	}
}

// A small file a READ asked for is in the kernel's page cache through that
// READ: read-ahead leaves it be rather than store it again, which would wait
// for the page locks the READ holds (and here touch a directory there is
// none of).
func TestStoreSkipsRead(t *testing.T) {
	entries := []repotest.Entry{
		{Path: "a", Kind: repotest.File, Data: []byte("abc")},
		{Path: "b", Kind: repotest.File, Data: []byte("defg")},
	}
	repoPath, c := testrepo.NewRepo(t, "archive", entries)
	r, tree := commitTree(t, repoPath, c, "")
	cc := inflatecache.New(r, t.TempDir(), 1<<20, 1<<20)
	read, err := cc.Acquire(tree.Files[0].Content, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Release(read, false)
	if err := read.InflateTo(3); err != nil {
		t.Fatal(err)
	}
	read.MarkRead()
	if !store(nil, "a", read) {
		t.Error("store of a file its READ read: not done, want done without storing")
	}
	unverified, err := cc.Acquire(tree.Files[1].Content, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Release(unverified, false)
	if store(nil, "b", unverified) {
		t.Error("store of an unverified file: done, want left to its READ")
	}
}

// TestMountStreamsLargeFiles: through a mount whose cache bound holds
// neither, two files larger than the bound read at once come out right,
// each inflated in one pass.
func TestMountStreamsLargeFiles(t *testing.T) {
	const size = 6<<20 + 99
	entries := []repotest.Entry{
		{Path: "a", Kind: repotest.File, Data: repotest.Pseudorandom("a", size)},
		{Path: "b", Kind: repotest.File, Data: repotest.Pseudorandom("b", size)},
	}
	repoPath, c := testrepo.NewRepo(t, "archive", entries)
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
