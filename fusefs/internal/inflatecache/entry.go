package inflatecache

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/repofs/repofs/internal/bufpool"
	"github.com/repofs/repofs/repo"
)

// Entry is one archive file, inflated as far as done: in memory (small
// files), in an unlinked temporary file, or streamed through a window.
type Entry struct {
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
	// read is set by MarkRead.
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

	// guarded by Cache.mu
	refs int
	idle *list.Element // in idleMem or idleDisk while refs == 0
	used time.Time     // last released warm; zero once released cold
}

// Sum is the content object's checksum.
func (e *Entry) Sum() repo.Checksum { return e.c }

// Size is the file's uncompressed size.
func (e *Entry) Size() int64 { return e.size }

// InMemory reports whether e is a small file, inflated whole into memory
// at once.
func (e *Entry) InMemory() bool { return e.mem != nil }

// OnDisk reports whether e is a large file inflated into a temporary
// file, where any read below Inflated needs no inflating.
func (e *Entry) OnDisk() bool { return e.file != nil }

// Streamed reports whether e is a large file the disk bound had no room
// for, of which only a window behind the furthest read is kept.
func (e *Entry) Streamed() bool { return e.window != nil }

// Bytes is a small file's inflated bytes, valid while e is held; nil for
// a large file. Once Verified, they are the file's.
func (e *Entry) Bytes() []byte { return e.mem }

// Inflated is how far e is inflated (beyond Size once verified).
func (e *Entry) Inflated() int64 { return e.ready.Load() }

// Verified reports whether e is inflated whole and its object checked
// against its checksum.
func (e *Entry) Verified() bool { return e.ready.Load() > e.size }

// MarkRead records that a reader had a small file's bytes; WasRead
// reports it. The mount then knows the kernel's page cache holds them.
func (e *Entry) MarkRead()     { e.read.Store(true) }
func (e *Entry) WasRead() bool { return e.read.Load() }

// large reports whether evicting e may cost its reader a pass from byte 0.
func (e *Entry) large() bool { return e.file != nil || e.window != nil }

// charge is what e counts against the memory bound: its buffer.
func (e *Entry) charge() int64 { return int64(cap(e.mem) + cap(e.window)) }

// fail records err; e.mu is held.
func (e *Entry) fail(err error) {
	e.err = err
	e.failed.Store(true)
}

// inflateStep is the size of the pooled buffer a large file is inflated
// through on its way to its temporary file.
const inflateStep = 256 << 10

// ReadAt inflates as far as off+len(p) if needed, then copies. A read at
// or past the end verifies the object, so that a sequential reader learns
// of a corrupt one.
func (e *Entry) ReadAt(p []byte, off int64) (int, error) {
	if e.window != nil {
		return e.readStreamed(p, off)
	}
	end := min(off+int64(len(p)), e.size)
	if off >= e.size {
		return 0, e.InflateTo(e.size)
	}
	if !e.Has(end) {
		if err := e.InflateTo(end); err != nil {
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

// Has reports, without e.mu, whether the bytes up to end are inflated and
// need no verifying first (InflateTo's own test): ready is done, or size+1
// once the object is verified.
func (e *Entry) Has(end int64) bool {
	r := e.ready.Load()
	return r > e.size || r >= end && r < e.size
}

// readStreamed serves a read of a streamed file from its window, starting
// the pass again at byte 0 if off is behind it.
func (e *Entry) readStreamed(p []byte, off int64) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := int64(len(e.window))
	if off >= e.size {
		return 0, e.inflateLocked(nil, e.size) // verify at the end, as ReadAt does
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

// InflateTo inflates e as far as end, and on to the object's end (which
// verifies it) once end is the file's size.
func (e *Entry) InflateTo(end int64) error { return e.InflateFrom(nil, end) }

// InflateFrom is InflateTo, reading a small file through p if it is not
// inflated yet; p may be nil.
func (e *Entry) InflateFrom(p *repo.Prefetched, end int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inflateLocked(p, end)
}

// inflateLocked inflates as far as end (and, at the end, on to EOF, which
// verifies the object), a small file through p if not nil; e.mu is held.
func (e *Entry) inflateLocked(p *repo.Prefetched, end int64) error {
	if e.err != nil {
		return e.err
	}
	// Most reads land below done (every re-read, every read after the
	// first of a sequential pass): nothing to inflate, nothing to allocate.
	if e.verified || (e.done >= end && e.done < e.size) {
		return nil
	}
	defer func() {
		switch {
		case e.window != nil:
			// Bytes below done are overwritten: Has must send every
			// read through mu.
		case e.verified:
			e.ready.Store(e.size + 1)
		default:
			e.ready.Store(e.done)
		}
	}()
	if e.mem != nil {
		return e.inflateWholeLocked(p)
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
			// read wants must still be there.
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
			err = fmt.Errorf("%s: payload longer than its header says: %w", e.r.ObjectPath(e.c, repo.ObjFile), repo.ErrCorrupt)
			n = 0
		}
		if n > 0 && e.file != nil {
			if _, werr := e.file.WriteAt(dst[:n], e.done); werr != nil {
				err = fmt.Errorf("inflate %s into the cache: %w", e.r.ObjectPath(e.c, repo.ObjFile), werr)
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
			err = fmt.Errorf("%s: payload ends at %d of %d bytes: %w", e.r.ObjectPath(e.c, repo.ObjFile), e.done, e.size, repo.ErrCorrupt)
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

// inflateWholeLocked inflates a small file whole, in one go, straight into
// its buffer, and verifies it: faster than streaming it, which only large
// files do, into their temporary file. e.mu is held.
func (e *Entry) inflateWholeLocked(p *repo.Prefetched) error {
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
