package fusefs

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo"
)

// smallFile is the size up to which an inflated file is kept in memory
// rather than in a temporary file.
const smallFile = 1 << 20

// contentCache keeps inflated archive files so that random and repeated
// reads of a file never inflate it from byte 0 again: each object is
// inflated once, whole into memory at its first read (small files), or
// sequentially into an unlinked temporary file as far as the furthest read
// so far (large ones). Entries
// nobody has open are evicted, least recently used first, beyond the
// bounds.
type contentCache struct {
	r       *repo.Repo
	dir     string
	maxDisk int64
	maxMem  int64
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
	return &contentCache{r: r, dir: dir, maxDisk: maxDisk, maxMem: maxMem, m: map[repo.Checksum]*inflated{}}
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
	mem   []byte
	file  *os.File
	err   error
	// failed is err != nil, for the cache, which must not wait for mu.
	failed atomic.Bool

	// guarded by contentCache.mu
	refs int
	idle *list.Element // in idleMem or idleDisk while refs == 0
}

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
		if e.idle != nil {
			cc.idleList(e).Remove(e.idle)
			e.idle = nil
		}
		e.refs++
		return e, nil
	}
	e := &inflated{r: cc.r, c: c, size: size, refs: 1}
	if size <= smallFile {
		e.mem = make([]byte, size)
		cc.mem += size
	} else {
		f, err := tempFile(cc.dir)
		if err != nil {
			return nil, fmt.Errorf("cache for %s.filez in %s: %w", c, cc.dir, err)
		}
		e.file = f
		cc.disk += size
	}
	cc.m[c] = e
	cc.evictLocked()
	return e, nil
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
	} else {
		e.idle = cc.idleList(e).PushFront(e)
	}
	cc.evictLocked()
}

func (cc *contentCache) evictLocked() {
	for cc.mem > cc.maxMem && cc.idleMem.Len() > 0 {
		cc.dropLocked(cc.idleMem.Back().Value.(*inflated))
	}
	for cc.disk > cc.maxDisk && cc.idleDisk.Len() > 0 {
		cc.dropLocked(cc.idleDisk.Back().Value.(*inflated))
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
		cc.mem -= e.size
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

// readAt inflates as far as off+len(p) if needed, then copies.
func (e *inflated) readAt(p []byte, off int64) (int, error) {
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

func (e *inflated) inflateTo(end int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	// Most READs land below done (every re-read, every READ after the
	// first of a sequential pass): nothing to inflate, nothing to allocate.
	if e.verified || (e.done >= end && e.done < e.size) {
		return nil
	}
	defer func() {
		if e.verified {
			e.ready.Store(e.size + 1)
		} else {
			e.ready.Store(e.done)
		}
	}()
	if e.mem != nil {
		// A small file is inflated whole, in one go, straight into its
		// buffer and verified, twice as fast as streaming it; only large
		// ones stream, into their temporary file.
		if _, err := e.r.ReadFileInto(e.c, e.mem); err != nil {
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
	for e.rc != nil && (e.done < end || e.done == e.size) {
		var dst []byte
		switch {
		case e.done >= e.size:
			dst = make([]byte, 1) // read on to EOF, so the checksum is verified
		default:
			if buf == nil {
				buf = make([]byte, 256<<10)
			}
			dst = buf[:min(int64(len(buf)), e.size-e.done)]
		}
		n, err := e.rc.Read(dst)
		if n > 0 && e.done >= e.size {
			err = fmt.Errorf("%s.filez: payload longer than its header says: %w", e.c, repo.ErrCorrupt)
			n = 0
		}
		if n > 0 {
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
