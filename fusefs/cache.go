package fusefs

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/bufpool"
	"github.com/repofs/repofs/repo"
)

// smallFile is the size up to which an inflated file is kept in memory
// rather than in a temporary file.
const smallFile = 1 << 20

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

// contentCache keeps inflated archive files so that random and repeated
// reads of a file never inflate it from byte 0 again: each object is
// inflated once, whole into memory at its first read (small files), or
// sequentially into an unlinked temporary file as far as the furthest read
// so far (large ones). Entries nobody reads are evicted, least recently
// used first, beyond the bounds; a large one only once readGrace has
// passed since its last READ. A large file the disk bound has no room for
// (larger than the bound, or while other files fill it) is streamed: its
// inflater goes on from its last READ, keeping the last streamWindow
// bytes, so a sequential reader costs one pass; a READ further back
// starts again from byte 0, as any reader of a DEFLATE stream must (two
// readers far apart in one such file each start over often). Once the
// bound has room, an idle streamed file that is not in the middle of a
// pass is made again on disk.
type contentCache struct {
	r       *repo.Repo
	dir     string
	maxDisk int64
	maxMem  int64
	window  int64         // streamWindow; smaller in tests
	grace   time.Duration // readGrace; smaller in tests
	mu      sync.Mutex
	m       map[repo.Checksum]*inflated
	disk    int64
	mem     int64
	// Entries nobody reads, most recently used at the front: eviction
	// takes from the back in constant time. Every READ acquires and
	// releases its entry, so a scan of all entries there was quadratic.
	idleMem, idleDisk list.List
}

func newContentCache(r *repo.Repo, dir string, maxDisk, maxMem int64) *contentCache {
	if dir == "" {
		dir = os.TempDir()
	}
	return &contentCache{r: r, dir: dir, maxDisk: maxDisk, maxMem: maxMem,
		window: streamWindow, grace: readGrace, m: map[repo.Checksum]*inflated{}}
}

// inflated is one archive file, inflated as far as done.
type inflated struct {
	c    repo.Checksum
	size int64

	r  *repo.Repo
	mu sync.Mutex // serialises inflation; reads below done need no lock
	rc io.ReadCloser
	// verified is set once the whole object was read and hashed to its name.
	verified bool
	done     int64
	// ready mirrors done (size+1 once verified) for reads that need no
	// inflating: they skip mu, which an inflater may hold meanwhile.
	ready atomic.Int64
	// ahead is set while a read-ahead inflates this entry.
	ahead atomic.Bool
	// read is set once a READ asked for a small file's bytes: the kernel
	// then fills its pages itself, and storing them would only wait for
	// the locks that READ holds on them.
	read atomic.Bool
	mem  []byte
	file *os.File
	// window holds a streamed file's bytes from done-len(window) to done,
	// byte i at i%len(window); it is read under mu only, as inflating
	// overwrites it. restarts counts the passes that began again at 0.
	window   []byte
	restarts int
	err      error
	// failed is err != nil, for the cache, which must not wait for mu.
	failed atomic.Bool

	// guarded by contentCache.mu
	refs int
	idle *list.Element // in idleMem or idleDisk while refs == 0
	used time.Time     // last released by a READ; zero once stored away
}

// large reports whether evicting e may cost its reader a pass from byte 0.
func (e *inflated) large() bool { return e.file != nil || e.window != nil }

// charge is what e counts against the memory bound: its buffer.
func (e *inflated) charge() int64 { return int64(cap(e.mem) + cap(e.window)) }

// fail records err; e.mu is held.
func (e *inflated) fail(err error) {
	e.err = err
	e.failed.Store(true)
}

func (cc *contentCache) idleList(e *inflated) *list.List {
	if e.file != nil {
		return &cc.idleDisk
	}
	return &cc.idleMem
}

func (cc *contentCache) acquire(c repo.Checksum, size int64) (*inflated, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e := cc.m[c]; e != nil && !e.failed.Load() {
		if !cc.mayGoToDiskLocked(e) {
			cc.takeLocked(e)
			return e, nil
		}
		cc.dropLocked(e)
	}
	e := &inflated{r: cc.r, c: c, size: size, refs: 1}
	switch {
	case size <= smallFile:
		e.mem = bufpool.Get(int(size))
	case cc.makeRoomLocked(size):
		f, err := tempFile(cc.dir)
		if err != nil {
			return nil, fmt.Errorf("cache for %s.filez in %s: %w", c, cc.dir, err)
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
// room for it now: then it is better made again on disk, where a READ may
// go back without starting over.
func (cc *contentCache) mayGoToDiskLocked(e *inflated) bool {
	return e.window != nil && e.refs == 0 && (e.done == 0 || !cc.inGrace(e, time.Now())) && cc.makeRoomLocked(e.size)
}

// makeRoomLocked evicts idle large files until size more bytes fit the
// disk bound, and reports whether they do; if they cannot (the others are
// in their grace), it evicts nothing.
func (cc *contentCache) makeRoomLocked(size int64) bool {
	free, now := cc.maxDisk-cc.disk, time.Now()
	for el := cc.idleDisk.Back(); el != nil && free < size; el = el.Prev() {
		if e := el.Value.(*inflated); !cc.inGrace(e, now) {
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
func (cc *contentCache) inGrace(e *inflated, now time.Time) bool {
	return e.large() && !e.used.IsZero() && now.Sub(e.used) < cc.grace
}

// cached returns c's entry, held, if the cache has one; unlike acquire it
// never makes one.
func (cc *contentCache) cached(c repo.Checksum) *inflated {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e := cc.m[c]
	if e == nil || e.failed.Load() {
		return nil
	}
	cc.takeLocked(e)
	return e
}

// takeLocked takes a reference on an entry of the cache, idle or not.
func (cc *contentCache) takeLocked(e *inflated) {
	if e.idle != nil {
		cc.idleList(e).Remove(e.idle)
		e.idle = nil
	}
	e.refs++
}

// hold takes one more reference on an entry the caller holds already.
func (cc *contentCache) hold(e *inflated) {
	cc.mu.Lock()
	e.refs++
	cc.mu.Unlock()
}

// release drops a reference. An entry nobody holds becomes idle, most
// recently used unless cold: read-ahead releases an entry cold once the
// kernel's page cache holds its bytes, so that it is evicted first.
func (cc *contentCache) release(e *inflated, cold bool) {
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

func (cc *contentCache) evictLocked() {
	cc.evictListLocked(&cc.idleMem, func() bool { return cc.mem > cc.maxMem })
	cc.evictListLocked(&cc.idleDisk, func() bool { return cc.disk > cc.maxDisk })
}

// evictListLocked drops idle entries of l, least recently used first,
// while over says so, passing over large ones still in their grace: few,
// as only a large file's READs make them.
func (cc *contentCache) evictListLocked(l *list.List, over func() bool) {
	if !over() {
		return
	}
	now := time.Now()
	for el := l.Back(); el != nil && over(); {
		e := el.Value.(*inflated)
		el = el.Prev()
		if !cc.inGrace(e, now) {
			cc.dropLocked(e)
		}
	}
}

func (cc *contentCache) dropLocked(e *inflated) {
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

// inflateStep is the size of the pooled buffer a large file is inflated
// through on its way to its temporary file.
const inflateStep = 256 << 10

// readAt inflates as far as off+len(p) if needed, then copies.
func (e *inflated) readAt(p []byte, off int64) (int, error) {
	if e.window != nil {
		return e.readStreamed(p, off)
	}
	end := min(off+int64(len(p)), e.size)
	if off >= e.size {
		// A read at the end is where a sequential reader learns of a
		// corrupt object: make it verify.
		return 0, e.inflateTo(e.size)
	}
	if !e.has(end) {
		if err := e.inflateTo(end); err != nil {
			return 0, err
		}
	}
	if e.mem != nil {
		return copy(p, e.mem[off:end]), nil
	}
	n, err := e.file.ReadAt(p[:end-off], off)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, err
	}
	return n, nil
}

// has reports, without e.mu, whether the bytes up to end are inflated and
// need no verifying first (inflateTo's own test): ready is done, or size+1
// once the object is verified.
func (e *inflated) has(end int64) bool {
	r := e.ready.Load()
	return r > e.size || r >= end && r < e.size
}

// readStreamed serves a READ of a streamed file from its window, starting
// the pass again at byte 0 if off is behind it.
func (e *inflated) readStreamed(p []byte, off int64) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := int64(len(e.window))
	if off >= e.size {
		return 0, e.inflateLocked(nil, e.size) // verify at the end, as readAt does
	}
	// No more than the window holds at once (a READ is smaller anyway).
	end := min(off+int64(len(p)), e.size, off+w)
	if off < e.done-w {
		// Behind the window: a DEFLATE stream cannot go back.
		if e.rc != nil {
			e.rc.Close()
			e.rc = nil
		}
		e.done, e.verified = 0, false
		e.restarts++
	}
	if err := e.inflateLocked(nil, end); err != nil {
		return 0, err
	}
	n := 0
	for off < end {
		i := off % w
		k := copy(p[n:], e.window[i:min(w, i+end-off)])
		n += k
		off += int64(k)
	}
	return n, nil
}

func (e *inflated) inflateTo(end int64) error { return e.inflateFrom(nil, end) }

// inflateFrom is inflateTo, reading a small file through p if it is not
// inflated yet; p may be nil.
func (e *inflated) inflateFrom(p *repo.Prefetched, end int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inflateLocked(p, end)
}

// inflateLocked inflates as far as end (and, at the end, on to EOF, which
// verifies the object), a small file through p if not nil; e.mu is held.
func (e *inflated) inflateLocked(p *repo.Prefetched, end int64) error {
	if e.err != nil {
		return e.err
	}
	// Most READs land below done (every re-read, every READ after the
	// first of a sequential pass): nothing to inflate, nothing to allocate.
	if e.verified || (e.done >= end && e.done < e.size) {
		return nil
	}
	defer func() {
		switch {
		case e.window != nil:
			// Bytes below done are overwritten: has must send every
			// read through mu.
		case e.verified:
			e.ready.Store(e.size + 1)
		default:
			e.ready.Store(e.done)
		}
	}()
	if e.mem != nil {
		// A small file is inflated whole, in one go, straight into its
		// buffer and verified, twice as fast as streaming it; only large
		// ones stream, into their temporary file.
		var err error
		if p != nil {
			_, err = p.ReadInto(e.mem)
		} else {
			_, err = e.r.ReadFileInto(e.c, e.mem)
		}
		if err != nil {
			e.fail(err)
			return err
		}
		e.done, e.verified = e.size, true
		return nil
	}
	if e.rc == nil {
		// OpenFile's reader verifies the whole object once its end is read.
		_, rc, err := e.r.OpenFile(e.c)
		if err != nil {
			e.fail(err)
			return err
		}
		e.rc = rc
	}
	var buf []byte
	defer func() { bufpool.Put(buf) }()
	for e.rc != nil && (e.done < end || e.done == e.size) {
		var dst []byte
		switch {
		case e.done >= e.size:
			dst = make([]byte, 1) // read on to EOF, so the checksum is verified
		case e.window != nil:
			// Straight into the window, and never past end: what this
			// READ wants must still be there.
			w := int64(len(e.window))
			i := e.done % w
			dst = e.window[i:min(w, i+end-e.done)]
		default:
			if buf == nil {
				buf = bufpool.Get(inflateStep)
			}
			dst = buf[:min(int64(len(buf)), e.size-e.done)]
		}
		n, err := e.rc.Read(dst)
		if n > 0 && e.done >= e.size {
			err = fmt.Errorf("%s.filez: payload longer than its header says: %w", e.c, repo.ErrCorrupt)
			n = 0
		}
		if n > 0 && e.file != nil {
			if _, werr := e.file.WriteAt(dst[:n], e.done); werr != nil {
				err = fmt.Errorf("inflate %s.filez into the cache: %w", e.c, werr)
			}
		}
		e.done += int64(n)
		if errors.Is(err, io.EOF) {
			if e.done == e.size {
				e.rc.Close()
				e.rc = nil
				e.verified = true
				return nil
			}
			err = fmt.Errorf("%s.filez: payload ends at %d of %d bytes: %w", e.c, e.done, e.size, repo.ErrCorrupt)
		}
		if err != nil {
			e.fail(err)
			e.rc.Close()
			e.rc = nil
			return err
		}
	}
	return nil
}
