package repo

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo/gvariant"
)

// WriteMetadata validates and stages a metadata object. When expected is
// not nil the bytes must hash to it: this is how untrusted downloads are
// checked before anything is written.
func (tx *Transaction) WriteMetadata(t ObjectType, data []byte, expected *Checksum) (Checksum, error) {
	c, err := CheckMetadata(t, data, expected)
	if err != nil {
		return c, err
	}
	if t != ObjCommitMeta {
		if ok, err := tx.HasObject(c, t); ok || err != nil {
			if ok {
				tx.count.counted(t, false, 0)
				tx.sizes.Load().record(c, t, uint64(len(data)), uint64(len(data)))
			}
			return c, err
		}
	}
	// Detached metadata is mutable: it replaces what is staged, by a
	// rename, so it needs a name of its own first.
	f, err := tx.stage.createMode(t == ObjCommitMeta, 0o644)
	if err != nil {
		return c, err
	}
	if _, err := f.Write(data); err != nil {
		return c, tx.discard(f, err)
	}
	tx.sizes.Load().record(c, t, uint64(len(data)), uint64(len(data)))
	if err := f.setPerm(0o644); err != nil {
		return c, tx.discard(f, fmt.Errorf("stage %s.%s: chmod: %w", c, t.Ext(), err))
	}
	return c, tx.place(f, c, t, t == ObjCommitMeta)
}

// CheckMetadata checks a metadata object's bytes as WriteMetadata does
// before staging them (checksum against expected, size, structure) and
// returns its checksum: for callers that must also check something else,
// such as signatures, before anything is staged. A commitmeta is named by
// its commit, which expected must give.
func CheckMetadata(t ObjectType, data []byte, expected *Checksum) (Checksum, error) {
	c := Checksum(sha256.Sum256(data))
	if t == ObjCommitMeta {
		if expected == nil {
			return c, errors.New("write commitmeta: the commit it belongs to must be given")
		}
		c = *expected
	} else if expected != nil && c != *expected {
		return c, corruptf(*expected, t, "checksum expected='%s' actual='%s'", *expected, c)
	}
	if len(data) > MaxMetadataSize {
		return c, corruptf(c, t, "size %d exceeds the metadata limit", len(data))
	}
	return c, validateMetadata(c, t, data)
}

// validateMetadata decodes an object of type t with the reader's rules.
func validateMetadata(c Checksum, t ObjectType, data []byte) error {
	var err error
	switch t {
	case ObjCommit:
		_, err = decodeCommit(c, data)
	case ObjDirTree:
		_, err = decodeDirTree(c, data)
	case ObjDirMeta:
		_, err = decodeDirMeta(c, data)
	case ObjCommitMeta, ObjTombstone:
		if _, derr := gvariant.DecodeMetadata(data); derr != nil {
			err = corruptf(c, t, "%v", derr)
		}
	default:
		err = fmt.Errorf("write %s: not a metadata object type", t.Ext())
	}
	return err
}

// WriteContent stages a content object: fi describes it and payload yields
// exactly fi.Size bytes (nothing for a symlink). The object is written in
// the repository's representation while it is hashed; when expected is not
// nil, a mismatch fails with ErrCorrupt and nothing is staged.
func (tx *Transaction) WriteContent(fi *FileInfo, payload io.Reader, expected *Checksum) (Checksum, error) {
	var zero Checksum
	name := "content object"
	if expected != nil {
		name = "content object " + expected.String()
	}
	if msg := fi.validate(); msg != "" {
		if expected != nil {
			return zero, corruptf(*expected, ObjFile, "%s", msg)
		}
		return zero, fmt.Errorf("write %s: %s", name, msg)
	}
	if err := tx.r.fitsMode(fi, name); err != nil {
		return zero, err
	}
	if payload == nil {
		payload = eofReader{}
	}
	h := sha256.New()
	h.Write(contentStreamPrefix(fi))
	f, err := tx.writeRepresentation(fi, io.TeeReader(payload, h))
	if err != nil {
		if expected != nil && (errors.Is(err, errPayloadSize) || errors.Is(err, io.ErrUnexpectedEOF) || isFlateError(err) || errors.Is(err, ErrCorrupt)) {
			return zero, corruptf(*expected, ObjFile, "%v", err)
		}
		return zero, fmt.Errorf("write %s: %w", name, err)
	}
	var c Checksum
	h.Sum(c[:0])
	if expected != nil && c != *expected {
		return c, tx.discard(f, corruptf(*expected, ObjFile, "checksum expected='%s' actual='%s'", *expected, c))
	}
	if sr := tx.sizes.Load(); sr != nil {
		unpacked := fi.Size
		if fi.IsSymlink() {
			unpacked = uint64(len(fi.Target))
		}
		sr.record(c, ObjFile, uint64(f.written), unpacked)
	}
	if !fi.IsSymlink() {
		f.payload = fi.Size
	}
	return c, tx.place(f, c, ObjFile, false)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// tempFile opens a new unnamed (where the filesystem can) object file in
// the staging directory.
func (tx *Transaction) tempFile() (*staged, error) { return tx.stage.create(false) }

func (tx *Transaction) discard(s *staged, err error) error {
	s.discard()
	return err
}

// place gives a finished object its staged name; an identical object
// staged meanwhile by another writer of this transaction wins.
func (tx *Transaction) place(s *staged, c Checksum, t ObjectType, replace bool) error {
	if t == ObjFile {
		if err := tx.space.check(s.written, true); err != nil {
			return tx.discard(s, fmt.Errorf("stage %s.%s: %w", c, t.Ext(), err))
		}
	}
	if err := s.d.mkdirFor(c[0]); err != nil {
		return tx.discard(s, err)
	}
	rel := tx.stagedRel(c, t)
	err := s.link(rel, replace)
	if errors.Is(err, unix.EEXIST) {
		tx.count.counted(t, false, 0)
		return tx.discard(s, nil)
	}
	if err != nil {
		return tx.discard(s, fmt.Errorf("stage %s.%s: %w", c, t.Ext(), err))
	}
	if tx.fsync {
		s.d.wrote(s.written)
	}
	if err := s.closeFile(); err != nil {
		// The bytes may not be what was written: do not keep them.
		unix.Unlinkat(s.d.fd, rel, 0)
		return fmt.Errorf("stage %s.%s: close: %w", c, t.Ext(), err)
	}
	tx.count.counted(t, true, s.payload)
	s.d.noteCounted(c, t, s.payload)
	return nil
}

// bufWriterPool holds the write buffers of staged objects: one of 256 KiB
// per object was most of a commit's allocation, and its zeroing showed in
// profiles. 64 KiB holds most objects whole and keeps the buffers of 16
// parallel downloads from weighing on peak RSS.
var bufWriterPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// copyChunkPool holds copyExactly's buffers.
var copyChunkPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeRepresentation writes fi and its payload in the repository's mode.
func (tx *Transaction) writeRepresentation(fi *FileInfo, payload io.Reader) (*staged, error) {
	if fi.IsSymlink() && tx.r.mode != ModeArchive && tx.r.mode != ModeBareUser {
		return tx.writeSymlink(fi)
	}
	s, err := tx.stage.createObject(fi, tx.r.mode)
	if err != nil {
		return nil, err
	}
	w := bufWriterPool.Get().(*bufio.Writer)
	w.Reset(s)
	defer func() { w.Reset(nil); bufWriterPool.Put(w) }()
	switch tx.r.mode {
	case ModeArchive:
		if tx.sizes.Load() != nil {
			err = writeArchiveZlib(w, fi, payload, tx.r.zlibLevel())
		} else {
			err = writeArchive(w, fi, payload, tx.r.zlibLevel())
		}
	case ModeBareUser:
		if fi.IsSymlink() {
			_, err = w.WriteString(fi.Target + "\x00")
		} else {
			err = copyExactly(w, payload, fi.Size)
		}
	default:
		err = copyExactly(w, payload, fi.Size)
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = s.applyMetadata(fi, tx.r.mode)
	}
	if err != nil {
		return nil, tx.discard(s, err)
	}
	return s, nil
}

var errPayloadSize = errors.New("payload size differs from the header's")

// copyExactly copies a payload that must be exactly size bytes.
func copyExactly(w io.Writer, r io.Reader, size uint64) error {
	// io.Copy would allocate 32 KiB per object when neither side offers
	// ReadFrom or WriteTo (inflating into a hash).
	buf := copyChunkPool.Get().(*[]byte)
	defer copyChunkPool.Put(buf)
	n, err := io.CopyBuffer(w, io.LimitReader(r, int64(size)+1), *buf)
	if err != nil {
		return err
	}
	if uint64(n) != size {
		return fmt.Errorf("%w: payload of %d bytes, expected %d", errPayloadSize, n, size)
	}
	return nil
}

// writeArchiveHeader writes the start of a .filez: u32be(len) 0000 header.
func writeArchiveHeader(w io.Writer, fi *FileInfo) error {
	h := fi.header()
	h.Size = fi.Size
	hdr := gvariant.EncodeArchiveHeader(h)
	pre := binary.BigEndian.AppendUint32(nil, uint32(len(hdr)))
	pre = append(pre, 0, 0, 0, 0)
	if _, err := w.Write(append(pre, hdr...)); err != nil {
		return err
	}
	return nil
}

// writeArchive writes a .filez: u32be(len) 0000 header raw-DEFLATE(payload).
func writeArchive(w io.Writer, fi *FileInfo, payload io.Reader, level int) error {
	if err := writeArchiveHeader(w, fi); err != nil {
		return err
	}
	if fi.IsSymlink() {
		return nil
	}
	zw, err := getDeflater(w, level)
	if err != nil {
		return err
	}
	if err := copyExactly(zw, payload, fi.Size); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	putDeflater(zw, level)
	return nil
}

func (r *Repo) zlibLevel() int {
	if v, ok := r.config.Get("archive", "zlib-level"); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 9 {
			return n
		}
	}
	return 6
}
