package delta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/repofs/repofs/repo"
)

// Opcodes of the part bytecode.
const (
	opOpenSpliceAndClose = 'S'
	opOpen               = 'o'
	opWrite              = 'w'
	opSetReadSource      = 'r'
	opUnsetReadSource    = 'R'
	opClose              = 'c'
	opBspatch            = 'B'
)

// Sink receives the objects a part produces. The delta is not trusted:
// a Sink must verify every object against its checksum (repo's
// transaction writes do).
type Sink interface {
	// Has reports whether the object is stored already; the part then
	// skips writing it, as ostree does.
	Has(o Object) (bool, error)
	// WriteMetadata stores a metadata object.
	WriteMetadata(o Object, data []byte) error
	// WriteContent stores a content object; payload yields exactly
	// fi.Size bytes (none for a symlink).
	WriteContent(o Object, fi *repo.FileInfo, payload io.Reader) error
	// OpenSource opens the payload of a regular-file content object of the
	// repository, which later writes and bspatches read.
	OpenSource(c repo.Checksum) (Source, error)
}

// ConcurrentSink is a Sink whose writes may run from several goroutines
// at once: Workers of them (≤ 1: one at a time, in order). Execute then
// writes each object while it goes on producing the next ones.
type ConcurrentSink interface {
	Sink
	Workers() int
}

// maxBuffered is the largest content object a concurrent Execute builds
// in memory to write in the background; larger ones stream to the sink.
const maxBuffered = 8 << 20

// Source is a regular file's payload, read at offsets.
type Source interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// Stats counts the opcodes a part ran.
type Stats struct {
	SpliceClose, Open, Write, SetRead, UnsetRead, Close, Bspatch int
}

// Execute runs the part's bytecode, producing objects (the header's
// object list, in order) into sink. Every object named must be produced;
// a bound broken is ErrInvalid. With a nil sink nothing is written or
// read (ostree's "show" statistics), but every argument is checked.
func (p *Part) Execute(objects []Object, sink Sink) (st Stats, err error) {
	x := &executor{part: p, objects: objects, sink: sink, ops: p.Ops}
	if cs, ok := sink.(ConcurrentSink); ok && cs.Workers() > 1 {
		x.pool = &writePool{sem: make(chan struct{}, cs.Workers())}
	}
	defer func() {
		if cerr := x.abort(); err == nil && cerr != nil {
			err = cerr
		}
		// Background writes read the part's memory: all end here.
		if x.pool != nil {
			if werr := x.pool.wait(); err == nil && werr != nil {
				err = werr
			}
		}
	}()
	if len(objects) == 0 {
		return st, nil // as ostree: an empty part is not run
	}
	for len(x.ops) > 0 {
		at := len(p.Ops) - len(x.ops)
		op := x.ops[0]
		x.ops = x.ops[1:]
		switch op {
		case opOpenSpliceAndClose:
			st.SpliceClose++
			err = x.spliceClose()
		case opOpen:
			st.Open++
			err = x.open()
		case opWrite:
			st.Write++
			err = x.write()
		case opSetReadSource:
			st.SetRead++
			err = x.setReadSource()
		case opUnsetReadSource:
			st.UnsetRead++
			err = x.unsetReadSource()
		case opClose:
			st.Close++
			err = x.close()
		case opBspatch:
			st.Bspatch++
			err = x.bspatch()
		default:
			err = invalidf("unknown opcode %d", op)
		}
		if err != nil {
			return st, fmt.Errorf("part opcode %q at %d: %w", op, at, err)
		}
	}
	if x.cur != nil {
		return st, invalidf("part ends with object %s open", x.cur.obj.Checksum)
	}
	if x.next != len(objects) {
		return st, invalidf("part produced %d of its %d objects", x.next, len(objects))
	}
	return st, nil
}

type executor struct {
	part    *Part
	objects []Object
	sink    Sink
	ops     []byte
	next    int // index of the next object to open
	src     Source
	srcSize int64
	hasSrc  bool
	// idle is the read source last unset, kept open for a set of the
	// same object that often follows (a copied file switches between its
	// old version and the blob).
	idle    Source
	idleSum repo.Checksum
	srcSum  repo.Checksum
	cur     *openFile
	pool    *writePool // nil: objects are written in order, as produced
}

// writePool runs a concurrent sink's writes in the background, at most
// cap(sem) at once; the first failure is kept.
type writePool struct {
	sem chan struct{}
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

// submit starts write once a worker is free; it returns an earlier
// write's failure instead, so that the part stops at it.
func (w *writePool) submit(write func() error) error {
	w.sem <- struct{}{}
	if err := w.failed(); err != nil {
		<-w.sem
		return err
	}
	w.wg.Go(func() {
		defer func() { <-w.sem }()
		if err := write(); err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
		}
	})
	return nil
}

func (w *writePool) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// wait waits for every write submitted and returns the first failure.
func (w *writePool) wait() error {
	w.wg.Wait()
	return w.failed()
}

// openFile is a regular file being written by open, write and close: its
// bytes stream to the sink's WriteContent running alongside.
type openFile struct {
	obj           Object
	fi            *repo.FileInfo
	size, written uint64
	skip          bool // stored already, or no sink
	// buf, for a concurrent sink, collects the bytes to write at close;
	// else they stream to the sink through pw.
	buf  []byte
	pw   *io.PipeWriter
	done chan error
}

func (x *executor) varint() (uint64, error) {
	v, n := binary.Uvarint(x.ops)
	if n <= 0 {
		return 0, invalidf("truncated or overlong varint")
	}
	x.ops = x.ops[n:]
	return v, nil
}

func (x *executor) varints(out ...*uint64) error {
	for _, p := range out {
		v, err := x.varint()
		if err != nil {
			return err
		}
		*p = v
	}
	return nil
}

// blob returns length bytes of the blob at offset, bounds checked.
func (x *executor) blob(offset, length uint64) ([]byte, error) {
	n := uint64(len(x.part.Blob))
	if offset > n || length > n-offset {
		return nil, invalidf("offset %d length %d outside the %d-byte blob", offset, length, n)
	}
	return x.part.Blob[offset : offset+length], nil
}

// nextObject takes the next object name of the header.
func (x *executor) nextObject() (Object, error) {
	if x.cur != nil {
		return Object{}, invalidf("object %s is still open", x.cur.obj.Checksum)
	}
	if x.next >= len(x.objects) {
		return Object{}, invalidf("more objects than the %d the header lists", len(x.objects))
	}
	o := x.objects[x.next]
	x.next++
	return o, nil
}

func (x *executor) has(o Object) (bool, error) {
	if x.sink == nil {
		return true, nil
	}
	return x.sink.Has(o)
}

// fileInfo builds a content object's metadata from the mode and xattr
// tables.
func (x *executor) fileInfo(modeIdx, xattrIdx, size uint64) (*repo.FileInfo, error) {
	if modeIdx >= uint64(len(x.part.Modes)) || xattrIdx >= uint64(len(x.part.Xattrs)) {
		return nil, invalidf("mode %d or xattrs %d outside tables of %d and %d", modeIdx, xattrIdx, len(x.part.Modes), len(x.part.Xattrs))
	}
	m := x.part.Modes[modeIdx]
	return &repo.FileInfo{UID: m.UID, GID: m.GID, Mode: m.Mode, Size: size, Xattrs: x.part.Xattrs[xattrIdx]}, nil
}

const (
	sIFMT  = 0o170000
	sIFREG = 0o100000
	sIFLNK = 0o120000
)

func (x *executor) spliceClose() error {
	o, err := x.nextObject()
	if err != nil {
		return err
	}
	if o.Type != repo.ObjFile {
		var length, offset uint64
		if err := x.varints(&length, &offset); err != nil {
			return err
		}
		data, err := x.blob(offset, length)
		if err != nil {
			return err
		}
		if length > repo.MaxMetadataSize {
			return invalidf("metadata object of %d bytes", length)
		}
		if x.sink == nil {
			return x.unsetReadSource()
		}
		if err := x.writeBackground(func() error { return x.sink.WriteMetadata(o, data) }); err != nil {
			return err
		}
		return x.unsetReadSource()
	}
	var modeIdx, xattrIdx, size, offset uint64
	if err := x.varints(&modeIdx, &xattrIdx, &size, &offset); err != nil {
		return err
	}
	data, err := x.blob(offset, size)
	if err != nil {
		return err
	}
	fi, err := x.fileInfo(modeIdx, xattrIdx, size)
	if err != nil {
		return err
	}
	var payload io.Reader = bytes.NewReader(data)
	switch fi.Mode & sIFMT {
	case sIFLNK:
		fi.Size, fi.Target, payload = 0, string(data), nil
	case sIFREG:
	default:
		return invalidf("content object %s of mode 0%o", o.Checksum, fi.Mode)
	}
	if have, err := x.has(o); err != nil || have {
		if err != nil {
			return err
		}
		return x.unsetReadSource()
	}
	if err := x.writeBackground(func() error { return x.sink.WriteContent(o, fi, payload) }); err != nil {
		return err
	}
	return x.unsetReadSource()
}

// writeBackground runs a write of bytes that stay put until Execute
// returns: in the background with a concurrent sink, else now.
func (x *executor) writeBackground(write func() error) error {
	if x.pool == nil {
		return write()
	}
	return x.pool.submit(write)
}

func (x *executor) open() error {
	o, err := x.nextObject()
	if err != nil {
		return err
	}
	if o.Type != repo.ObjFile {
		return invalidf("open of %s object %s", o.Type.Ext(), o.Checksum)
	}
	var modeIdx, xattrIdx, size uint64
	if err := x.varints(&modeIdx, &xattrIdx, &size); err != nil {
		return err
	}
	fi, err := x.fileInfo(modeIdx, xattrIdx, size)
	if err != nil {
		return err
	}
	if fi.Mode&sIFMT != sIFREG {
		return invalidf("open of content object %s of mode 0%o: only regular files", o.Checksum, fi.Mode)
	}
	f := &openFile{obj: o, fi: fi, size: size}
	x.cur = f
	if f.skip, err = x.has(o); err != nil || f.skip {
		return err
	}
	if x.pool != nil && size <= maxBuffered {
		f.buf = getBuf(size)
		return nil
	}
	pr, pw := io.Pipe()
	f.pw, f.done = pw, make(chan error, 1)
	go func() {
		err := x.sink.WriteContent(o, fi, pr)
		pr.CloseWithError(errSinkDone) // unblocks a writer if the sink stopped early
		f.done <- err
	}()
	return nil
}

// errSinkDone tells a writer that the sink stopped reading.
var errSinkDone = errors.New("content object no longer read")

// emit appends bytes to the open file, within its declared size.
func (x *executor) emit(b []byte) error {
	f := x.cur
	if uint64(len(b)) > f.size-f.written {
		return invalidf("write of %d bytes past the %d declared for %s", len(b), f.size, f.obj.Checksum)
	}
	f.written += uint64(len(b))
	if f.skip {
		return nil
	}
	if f.pw == nil {
		f.buf = append(f.buf, b...)
		return nil
	}
	if _, err := f.pw.Write(b); err != nil {
		return x.sinkError(err)
	}
	return nil
}

// sinkError is the sink's own error after a failed pipe write.
func (x *executor) sinkError(err error) error {
	f := x.cur
	f.pw.CloseWithError(err)
	serr := <-f.done
	f.done = nil
	x.cur = nil
	if serr != nil {
		return serr
	}
	return err
}

func (x *executor) write() error {
	var size, offset uint64
	if err := x.varints(&size, &offset); err != nil {
		return err
	}
	if x.cur == nil {
		return invalidf("write with no object open")
	}
	if size > x.cur.size-x.cur.written {
		return invalidf("write of %d bytes past the %d declared for %s", size, x.cur.size, x.cur.obj.Checksum)
	}
	if !x.hasSrc {
		data, err := x.blob(offset, size)
		if err != nil {
			return err
		}
		return x.emit(data)
	}
	if offset > uint64(x.srcSize) || size > uint64(x.srcSize)-offset {
		return invalidf("write of %d bytes at %d outside the %d-byte read source", size, offset, x.srcSize)
	}
	if x.cur.skip || x.src == nil {
		x.cur.written += size // checked; nothing to copy
		return nil
	}
	if m, ok := x.src.(*memSource); ok {
		return x.emit(m.b[offset : offset+size])
	}
	buf := make([]byte, min(size, 256<<10))
	for size > 0 {
		n := min(uint64(len(buf)), size)
		if err := readAt(x.src, buf[:n], int64(offset)); err != nil {
			return err
		}
		if err := x.emit(buf[:n]); err != nil {
			return err
		}
		size -= n
		offset += n
	}
	return nil
}

func (x *executor) setReadSource() error {
	var offset uint64
	if err := x.varints(&offset); err != nil {
		return err
	}
	sum, err := x.blob(offset, 32)
	if err != nil {
		return err
	}
	if err := x.unsetReadSource(); err != nil {
		return err
	}
	x.hasSrc = true
	if x.sink == nil || x.cur != nil && x.cur.skip {
		x.srcSize = 1<<63 - 1 // not read: bounds are the object's
		return nil
	}
	c := repo.Checksum(sum)
	if x.idle != nil && x.idleSum == c {
		x.src, x.idle = x.idle, nil
	} else {
		if err := x.closeIdle(); err != nil {
			return err
		}
		if x.src, err = x.sink.OpenSource(c); err != nil {
			return fmt.Errorf("read source %s: %w", c, err)
		}
	}
	x.srcSum, x.srcSize = c, x.src.Size()
	return nil
}

// unsetReadSource unsets the read source, keeping it as the idle one.
func (x *executor) unsetReadSource() error {
	x.hasSrc = false
	if x.src == nil {
		return nil
	}
	err := x.closeIdle()
	x.idle, x.idleSum = x.src, x.srcSum
	x.src, x.srcSize = nil, 0
	return err
}

func (x *executor) closeIdle() error {
	if x.idle == nil {
		return nil
	}
	err := x.idle.Close()
	x.idle = nil
	return err
}

func (x *executor) close() error {
	f := x.cur
	if f == nil {
		return invalidf("close with no object open")
	}
	if f.written != f.size {
		return invalidf("close of %s after %d of its %d bytes", f.obj.Checksum, f.written, f.size)
	}
	x.cur = nil
	switch {
	case f.pw != nil:
		f.pw.Close()
		if err := <-f.done; err != nil {
			return err
		}
	case !f.skip:
		buf := f.buf
		f.buf = nil
		if err := x.pool.submit(func() error {
			defer putBuf(buf)
			return x.sink.WriteContent(f.obj, f.fi, bytes.NewReader(buf))
		}); err != nil {
			putBuf(buf)
			return err
		}
	}
	return x.unsetReadSource()
}

func (x *executor) bspatch() error {
	var offset, length uint64
	if err := x.varints(&offset, &length); err != nil {
		return err
	}
	patch, err := x.blob(offset, length)
	if err != nil {
		return err
	}
	f := x.cur
	if f == nil {
		return invalidf("bspatch with no object open")
	}
	if !x.hasSrc {
		return invalidf("bspatch with no read source")
	}
	if f.written != 0 {
		return invalidf("bspatch into %s after %d bytes were written", f.obj.Checksum, f.written)
	}
	if f.skip || x.src == nil {
		f.written = f.size // stored already, or statistics only: not run
		return nil
	}
	return bspatch(x.src, x.srcSize, f.size, patch, x.emit)
}

// readAt fills p from r at off; a short read is an error.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read source at %d: %w", off, err)
}

// abort ends what a failed part left open.
func (x *executor) abort() error {
	if f := x.cur; f != nil && f.pw != nil && f.done != nil {
		f.pw.CloseWithError(invalidf("part failed with %s open", f.obj.Checksum))
		<-f.done
	}
	x.cur = nil
	err := x.unsetReadSource()
	if cerr := x.closeIdle(); err == nil {
		err = cerr
	}
	return err
}
