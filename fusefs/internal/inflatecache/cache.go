// Package inflatecache keeps inflated archive files so that reading one
// again, or out of order, never inflates it from byte 0 again.
package inflatecache

import (
	"container/list"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/bufpool"
	"github.com/repofs/repofs/repo"
)

// SmallFile is the size up to which an inflated file is kept in memory
// rather than in a temporary file.
const SmallFile = 1 << 20

const (
	// streamWindow is how much of a streamed file (one the disk bound has
	// no room for) stays inflated behind its furthest read: more than the
	// kernel's read-ahead has in flight at once (MaxReadAhead plus a
	// READ), whose READs may arrive out of order.
	streamWindow = 4 << 20
	// readGrace is how long a large entry, once released, is safe from
	// eviction: a reader between two READs of a file is still reading
	// it, and evicting it there would inflate the file from byte 0 again
	// for every READ.
	readGrace = 2 * time.Second
)

// Cache keeps inflated archive files: each object is inflated once, whole
// into memory at its first read (small files), or sequentially into an
// unlinked temporary file as far as the furthest read so far (large
// ones). Entries nobody holds are evicted, least recently used first,
// beyond the bounds; a large one only once readGrace has passed since its
// last release. A large file the disk bound has no room for (larger than
// the bound, or while other files fill it) is streamed: its inflater goes
// on from its last read, keeping the last streamWindow bytes, so a
// sequential reader costs one pass; a read further back starts again from
// byte 0, as any reader of a DEFLATE stream must (two readers far apart
// in one such file each start over often). Once the bound has room, an
// idle streamed file that is not in the middle of a pass is made again on
// disk.
type Cache struct {
	r       *repo.Repo
	dir     string
	maxDisk int64
	maxMem  int64
	window  int64         // streamWindow; smaller in tests
	grace   time.Duration // readGrace; smaller in tests
	mu      sync.Mutex
	m       map[repo.Checksum]*Entry
	disk    int64
	mem     int64
	// Entries nobody holds, most recently used at the front: eviction
	// takes from the back in constant time. Every read acquires and
	// releases its entry, so a scan of all entries there was quadratic.
	idleMem, idleDisk list.List
}

// New returns a cache of r's content objects that keeps up to maxDisk
// inflated bytes in unlinked files in dir (os.TempDir() if empty) and up
// to maxMem in memory.
func New(r *repo.Repo, dir string, maxDisk, maxMem int64) *Cache {
	if dir == "" {
		dir = os.TempDir()
	}
	return &Cache{r: r, dir: dir, maxDisk: maxDisk, maxMem: maxMem,
		window: streamWindow, grace: readGrace, m: map[repo.Checksum]*Entry{}}
}

// MaxDisk is the bound on the inflated bytes kept on disk.
func (cc *Cache) MaxDisk() int64 { return cc.maxDisk }

func (cc *Cache) idleList(e *Entry) *list.List {
	if e.file != nil {
		return &cc.idleDisk
	}
	return &cc.idleMem
}

// Acquire returns content object c's entry, held, making one if the cache
// has none (or only a failed one); size is the file's uncompressed size.
// The caller releases it.
func (cc *Cache) Acquire(c repo.Checksum, size int64) (*Entry, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e := cc.m[c]; e != nil && !e.failed.Load() {
		if !cc.mayGoToDiskLocked(e) {
			cc.takeLocked(e)
			return e, nil
		}
		cc.dropLocked(e)
	}
	e := &Entry{r: cc.r, c: c, size: size, refs: 1}
	switch {
	case size <= SmallFile:
		e.mem = bufpool.Get(int(size))
	case cc.makeRoomLocked(size):
		f, err := tempFile(cc.dir)
		if err != nil {
			return nil, fmt.Errorf("cache for %s in %s: %w", cc.r.ObjectPath(c, repo.ObjFile), cc.dir, err)
		}
		e.file = f
		cc.disk += size
	default:
		e.window = bufpool.Get(int(min(size, cc.window)))
	}
	cc.mem += e.charge()
	cc.m[c] = e
	cc.evictLocked()
	return e, nil
}

// mayGoToDiskLocked reports whether e is streamed only because the disk
// bound was full when it was made, is idle and not in the middle of a
// reader's pass (never read, or left past its grace), and the bound has
// room for it now: then it is better made again on disk, where a read may
// go back without starting over.
func (cc *Cache) mayGoToDiskLocked(e *Entry) bool {
	return e.window != nil && e.refs == 0 && (e.done == 0 || !cc.inGrace(e, time.Now())) && cc.makeRoomLocked(e.size)
}

// makeRoomLocked evicts idle large files until size more bytes fit the
// disk bound, and reports whether they do; if they cannot (the others are
// in their grace), it evicts nothing.
func (cc *Cache) makeRoomLocked(size int64) bool {
	free, now := cc.maxDisk-cc.disk, time.Now()
	for el := cc.idleDisk.Back(); el != nil && free < size; el = el.Prev() {
		if e := el.Value.(*Entry); !cc.inGrace(e, now) {
			free += e.size
		}
	}
	if free < size {
		return false
	}
	cc.evictListLocked(&cc.idleDisk, func() bool { return cc.disk+size > cc.maxDisk })
	return true
}

// inGrace reports whether e is a large entry read too recently to evict.
func (cc *Cache) inGrace(e *Entry, now time.Time) bool {
	return e.large() && !e.used.IsZero() && now.Sub(e.used) < cc.grace
}

// Cached returns c's entry, held, if the cache has one; unlike Acquire it
// never makes one.
func (cc *Cache) Cached(c repo.Checksum) *Entry {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e := cc.m[c]
	if e == nil || e.failed.Load() {
		return nil
	}
	cc.takeLocked(e)
	return e
}

// Verified reports whether the cache holds c inflated whole and verified,
// without taking a reference or touching its place in the eviction order.
func (cc *Cache) Verified(c repo.Checksum) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e := cc.m[c]
	return e != nil && e.Verified()
}

// takeLocked takes a reference on an entry of the cache, idle or not.
func (cc *Cache) takeLocked(e *Entry) {
	if e.idle != nil {
		cc.idleList(e).Remove(e.idle)
		e.idle = nil
	}
	e.refs++
}

// Hold takes one more reference on an entry the caller holds already, for
// work that outlives the caller's own.
func (cc *Cache) Hold(e *Entry) {
	cc.mu.Lock()
	e.refs++
	cc.mu.Unlock()
}

// Release drops a reference. An entry nobody holds becomes idle, most
// recently used unless cold: a caller that put the bytes elsewhere (the
// kernel's page cache) releases it cold, so that it is evicted first.
func (cc *Cache) Release(e *Entry, cold bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e.refs--
	if e.refs > 0 {
		return
	}
	if e.failed.Load() {
		cc.dropLocked(e)
		return
	}
	if cold {
		e.idle = cc.idleList(e).PushBack(e)
		e.used = time.Time{}
	} else {
		e.idle = cc.idleList(e).PushFront(e)
		e.used = time.Now()
	}
	cc.evictLocked()
}

func (cc *Cache) evictLocked() {
	cc.evictListLocked(&cc.idleMem, func() bool { return cc.mem > cc.maxMem })
	cc.evictListLocked(&cc.idleDisk, func() bool { return cc.disk > cc.maxDisk })
}

// evictListLocked drops idle entries of l, least recently used first,
// while over says so, passing over large ones still in their grace: few,
// as only a large file's reads make them.
func (cc *Cache) evictListLocked(l *list.List, over func() bool) {
	if !over() {
		return
	}
	now := time.Now()
	for el := l.Back(); el != nil && over(); {
		e := el.Value.(*Entry)
		el = el.Prev()
		if !cc.inGrace(e, now) {
			cc.dropLocked(e)
		}
	}
}

func (cc *Cache) dropLocked(e *Entry) {
	if e.idle != nil {
		cc.idleList(e).Remove(e.idle)
		e.idle = nil
	}
	if cc.m[e.c] == e {
		delete(cc.m, e.c)
	}
	if e.file != nil {
		cc.disk -= e.size
		e.file.Close()
	} else {
		cc.mem -= e.charge()
		// Nobody holds e (refs is 0), and the kernel copied what was
		// stored from it: its buffer can serve the next file.
		bufpool.Put(e.mem)
		bufpool.Put(e.window)
		e.mem, e.window = nil, nil
	}
	if e.rc != nil {
		e.rc.Close()
	}
}

// Stats is what the cache holds, for tests and diagnostics.
type Stats struct {
	Entries, Streamed int
	// Restarts counts the passes over streamed entries that began again
	// at byte 0.
	Restarts int
	// Disk and Mem are the bytes counted against each bound.
	Disk, Mem int64
}

// Stats returns what the cache holds now.
func (cc *Cache) Stats() Stats {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	s := Stats{Entries: len(cc.m), Disk: cc.disk, Mem: cc.mem}
	for _, e := range cc.m {
		e.mu.Lock()
		if e.window != nil {
			s.Streamed++
		}
		s.Restarts += e.restarts
		e.mu.Unlock()
	}
	return s
}

// tempFile returns an unlinked file in dir.
func tempFile(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), dir+"/(inflated)"), nil
	}
	f, err := os.CreateTemp(dir, "repofs-inflated-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}
