package repo

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

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
	var s *staged
	switch {
	case tx.r.mode == ModeArchive:
		// The file is filez as it came; applyMetadata gives an archive
		// object its mode whatever fi says.
		s, err = tx.writeWhole(&FileInfo{Mode: sIFREG | 0o644, Size: uint64(len(filez))}, filez)
	case fi.IsSymlink():
		s, err = tx.writeRepresentation(fi, eofReader{})
	default:
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
