package repo

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/bufpool"
	"github.com/repofs/repofs/internal/inflate"
)

// maxStageWhole is the largest payload WriteArchiveBytes decodes into one
// buffer and writes with one write; a larger one is decoded a window at a
// time. Most objects are smaller; buffers for the few larger ones, 16
// downloads at a time, kept by bufpool, made a good part of a pull's peak
// memory, and decoding them a window at a time costs next to nothing more.
const maxStageWhole = 256 << 10

// WriteArchiveBytes is WriteArchiveStream of a .filez held whole in memory
// (a download fetched into memory, or read back from its partial file):
// the same checks, the same errors, the same object staged. It decodes the
// payload with package inflate, which reads its input 64 bits at a time,
// rather than through a streaming inflater and its buffered reader; a
// payload of up to maxStageWhole bytes is decoded straight into one buffer,
// hashed, and (in a bare mode) written with one write, and an archive
// repository gets filez itself, once verified, with one write. filez is not
// kept: the caller may reuse it once this returns.
func (tx *Transaction) WriteArchiveBytes(filez []byte, expected Checksum) (*FileInfo, error) {
	fi, payload, err := parseFilez(filez)
	if err != nil {
		return nil, corruptf(expected, ObjFile, "%v", err)
	}
	if msg := fi.validate(); msg != "" {
		return nil, corruptf(expected, ObjFile, "%s", msg)
	}
	if tx.r.mode != ModeArchive {
		if err := tx.r.fitsMode(fi, "content object "+expected.String()); err != nil {
			return nil, err
		}
	}
	h := sha256.New()
	h.Write(contentStreamPrefix(fi))
	var data []byte // the payload, decoded whole
	switch {
	case fi.IsSymlink():
	case fi.Size <= maxStageWhole:
		data = bufpool.Get(int(fi.Size))
		defer bufpool.Put(data)
		if err := inflate.Decode(data, payload); err != nil {
			return nil, corruptf(expected, ObjFile, "%v", err)
		}
		h.Write(data)
	case tx.r.mode != ModeArchive:
		z := getWindowReader(payload)
		defer putWindowReader(z)
		_, err := tx.WriteContent(fi, z, &expected)
		return fi, err
	default:
		z := getWindowReader(payload)
		defer putWindowReader(z)
		if err := hashPayload(h, z, fi.Size); err != nil {
			return nil, corruptf(expected, ObjFile, "%v", err)
		}
	}
	var c Checksum
	h.Sum(c[:0])
	if c != expected {
		return nil, corruptf(expected, ObjFile, "checksum expected='%s' actual='%s'", expected, c)
	}
	switch {
	case tx.r.mode == ModeArchive:
		// The file is filez as it came.
		tx.sizes.Load().record(c, ObjFile, uint64(len(filez)), unpackedSize(fi))
		return fi, tx.stageNamed(c, ObjFile, filez, 0, 0o644, nil)
	case tx.r.mode == ModeBareUser || tx.r.mode == ModeBareUserOnly:
		if !fi.IsSymlink() {
			tx.sizes.Load().record(c, ObjFile, fi.Size, fi.Size)
			perm := objectPerm(fi, tx.r.mode)
			return fi, tx.stageNamed(c, ObjFile, data, fi.Size, perm, func(s *staged) error {
				return s.applyMetadata(fi, tx.r.mode)
			})
		}
	}
	var s *staged
	if fi.IsSymlink() {
		s, err = tx.writeRepresentation(fi, eofReader{})
	} else {
		s, err = tx.writeWhole(fi, data)
		if err == nil {
			s.payload = fi.Size
		}
	}
	if err != nil {
		return nil, fmt.Errorf("write content object %s: %w", c, err)
	}
	tx.sizes.Load().record(c, ObjFile, uint64(s.written), unpackedSize(fi))
	return fi, tx.place(s, c, ObjFile, false)
}

// stageNamed stages object c of type t, whose bytes data are verified
// already, by creating its file under its staged name (open with O_EXCL,
// write, meta, close) rather than as an O_TMPFILE named by a linkat once
// written: a system call fewer per object, and the kernel's work on an
// unnamed inode (the orphan list, the later naming) saved. perm is the
// file's mode, set at the create where the umask allows, else by meta,
// which gives it the rest of its metadata (nil: none). payload is what
// the transaction counts of it.
//
// Nothing but verified bytes is ever under that name, and a staging
// directory left by a crash mid-write is verified again when reused, as
// every reused one is. An EEXIST means an identical object staged by
// another writer of the transaction, which wins, as in place. Since that
// writer's file is named before it is complete, its failure after the
// create marks the transaction torn, and Commit refuses: the other writer
// took the object for staged.
func (tx *Transaction) stageNamed(c Checksum, t ObjectType, data []byte, payload uint64, perm uint32, meta func(*staged) error) error {
	if t == ObjFile {
		if err := tx.space.check(int64(len(data)), true); err != nil {
			return fmt.Errorf("stage %s.%s: %w", c, t.Ext(), err)
		}
	}
	d := tx.stage
	if err := d.mkdirFor(c[0]); err != nil {
		return err
	}
	m := uint32(0o600)
	if perm&^0o777 == 0 && perm&d.umask == 0 {
		m = perm
	}
	rel := tx.stagedRel(c, t)
	fd, err := unix.Openat(d.fd, rel, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, m)
	if errors.Is(err, unix.EEXIST) {
		tx.count.counted(t, false, 0)
		return nil
	}
	if err != nil {
		return fmt.Errorf("stage %s.%s: create %s/%s: %w", c, t.Ext(), d.path, rel, err)
	}
	s := &staged{d: d, fd: fd}
	if m == perm {
		s.perm = perm
	}
	_, err = s.Write(data)
	if err == nil && meta != nil {
		err = meta(s)
	} else if err == nil && s.perm != perm {
		err = s.setPerm(perm)
	}
	if cerr := s.closeFile(); err == nil {
		err = cerr
	}
	if err != nil {
		// The bytes may not be what was written: do not keep them.
		tx.torn.Store(true)
		unix.Unlinkat(d.fd, rel, 0)
		return fmt.Errorf("stage %s.%s: %w", c, t.Ext(), err)
	}
	if tx.fsync {
		d.wrote(s.written)
	}
	tx.count.counted(t, true, payload)
	d.noteCounted(c, t, payload)
	return nil
}

// unpackedSize is what a content object weighs checked out.
func unpackedSize(fi *FileInfo) uint64 {
	if fi.IsSymlink() {
		return uint64(len(fi.Target))
	}
	return fi.Size
}

// parseFilez decodes the header of a .filez held whole in memory and
// returns the object's metadata and its compressed payload, within filez.
func parseFilez(filez []byte) (*FileInfo, []byte, error) {
	if len(filez) < 8 {
		return nil, nil, fmt.Errorf("%w; truncated archive header", ErrCorrupt)
	}
	n, err := archiveHeaderLen(filez, int64(len(filez)))
	if err != nil {
		return nil, nil, err
	}
	// A copy: the xattrs decoded point into the header, and filez goes
	// back to its owner while the FileInfo lives on.
	fi, err := archiveFileInfo(bytes.Clone(filez[8:8+n]), int64(len(filez)))
	if err != nil {
		return nil, nil, err
	}
	return fi, filez[8+n:], nil
}

// getWindowReader returns a pooled inflate.Reader of src.
func getWindowReader(src []byte) *inflate.Reader {
	z, _ := wholeReaders.Get().(*inflate.Reader)
	if z == nil {
		return inflate.NewReader(src)
	}
	z.Reset(src)
	return z
}

func putWindowReader(z *inflate.Reader) {
	z.Reset(nil)
	wholeReaders.Put(z)
}

// hashPayload feeds exactly size bytes of payload to h, from a goroutine
// of its own for a large payload, as verifyArchive does.
func hashPayload(h hash.Hash, payload io.Reader, size uint64) error {
	if size < asyncHashMin {
		return copyExactly(h, payload, size)
	}
	pipe := newHashPipe(h)
	err := copyExactly(pipeWriter{pipe}, payload, size)
	pipe.close()
	return err
}
