package fusefs

import (
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/fusefs/internal/inflatecache"
	"github.com/repofs/repofs/repo"
)

// archiveReader serves the reads of an archive repository's mount: files
// are inflated through the content cache, so neither random nor repeated
// reads inflate one from byte 0 again, and the files a reader goes on to
// are inflated ahead of it and stored into the kernel's page cache
// (readahead_archive.go).
type archiveReader struct {
	f     *FS
	cache *inflatecache.Cache
	// slots bounds the goroutines inflating ahead: one per core, as the
	// reader mostly waits for them, and one more to use the time the
	// others spend waiting for the disk or storing into the page cache.
	slots chan struct{}
	// inFile are the entries an in-file read-ahead inflates, each holding
	// a slot: never more than cap(slots), so appending never allocates.
	inFileMu sync.Mutex
	inFile   []*inflatecache.Entry
}

func newArchiveReader(f *FS) *archiveReader {
	slots := baseProcs + 1
	return &archiveReader{f: f,
		cache:  inflatecache.New(f.r, f.o.CacheDir, f.o.CacheBytes, f.o.MemoryBytes),
		slots:  make(chan struct{}, slots),
		inFile: make([]*inflatecache.Entry, 0, slots)}
}

// read serves a READ of n from its entry in the content cache. The first
// READ of a file starts read-ahead of the files after it; a READ of a
// large file inflates further ahead in it.
func (a *archiveReader) read(n *fileNode, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off == 0 {
		a.readAhead(n.place())
	}
	e, err := a.cache.Acquire(n.content, int64(n.fi.Size))
	if err != nil {
		return nil, a.f.errno("open "+a.f.r.ObjectPath(n.content, repo.ObjFile), err)
	}
	defer a.cache.Release(e, false)
	if e.InMemory() {
		e.MarkRead() // see store
	}
	k, err := e.ReadAt(dest, off)
	if err != nil {
		return nil, a.f.errno("read "+a.f.r.ObjectPath(n.content, repo.ObjFile), err)
	}
	if e.OnDisk() {
		// After this READ's own bytes, so it never waits for more.
		a.readAheadInFile(e, off+int64(len(dest)))
	}
	return fuse.ReadResultData(dest[:k]), 0
}

// listed makes d the place its files are read from (claimFiles), and
// stores what read-ahead inflated in d before the kernel knew its files
// (storeListed).
func (a *archiveReader) listed(d *dirNode) {
	claimFiles(d)
	if d.ahead.archive.early.Load() != nil {
		go a.storeListed(d)
	}
}

func (a *archiveReader) idle() bool { return len(a.slots) == 0 }

// store puts a small file's verified bytes into the kernel's page cache
// for its inode, if the kernel knows the inode (readdirplus or a lookup
// made it), and reports whether it did. Best effort: a file the kernel no
// longer knows (ENOENT) is read through READ as usual. Never called while
// inflating e: the kernel locks the pages it stores into, and a READ of
// those pages may be waiting for e's inflation.
func store(d *dirNode, name string, e *inflatecache.Entry) bool {
	if !e.Verified() {
		return false // failed or unverified: its own READ reports it
	}
	if e.WasRead() {
		// In the page cache through its READ: storing it again would
		// only wait for the page locks that READ holds.
		return true
	}
	ch := d.GetChild(name)
	return ch != nil && ch.WriteCache(0, e.Bytes()) == 0
}
