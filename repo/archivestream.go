package repo

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
)

// WriteArchiveStream stages a content object given as a .filez of size
// bytes read from r (what an archive remote serves), verifying it against
// expected. An archive repository stores the bytes as they came, once they
// are known to be a well-formed .filez of the expected object, as ostree
// does: no recompression. Other modes inflate it through WriteContent. A
// malformed or mismatching object fails with ErrCorrupt and stages
// nothing; in an archive repository, so does a stream that is not exactly
// size bytes (elsewhere size only bounds the header). It returns the
// object's metadata.
func (tx *Transaction) WriteArchiveStream(r io.Reader, size int64, expected Checksum) (*FileInfo, error) {
	if tx.r.mode != ModeArchive {
		fi, z, err := decodeArchiveStream(r, size)
		if err != nil {
			return nil, corruptf(expected, ObjFile, "%v", err)
		}
		defer z.release()
		var payload io.Reader // nil, not a nil *inflater, for a symlink
		if z != nil {
			payload = z
		}
		_, err = tx.WriteContent(fi, payload, &expected)
		return fi, err
	}
	s, err := tx.stage.createMode(false, 0o644)
	if err != nil {
		return nil, err
	}
	bw := bufWriterPool.Get().(*bufio.Writer)
	bw.Reset(s)
	defer func() { bw.Reset(nil); bufWriterPool.Put(bw) }()
	w := &countingWriter{w: bw}
	fi, err := verifyArchive(io.TeeReader(r, w), size, expected)
	if w.err != nil {
		err = w.err // a failed write is not the object's fault
	}
	if err == nil {
		// The decoder has read to the end; anything left is an error.
		_, err = io.Copy(w, r)
	}
	if err == nil && w.n != size {
		err = corruptf(expected, ObjFile, "%d bytes, expected %d", w.n, size)
	}
	if err == nil {
		err = w.w.Flush()
	}
	if err == nil {
		err = s.applyMetadata(fi, ModeArchive)
	}
	if err != nil {
		return nil, tx.discard(s, err)
	}
	return fi, tx.place(s, expected, ObjFile, false)
}

// verifyArchive decodes a .filez and checks its checksum.
func verifyArchive(r io.Reader, size int64, expected Checksum) (*FileInfo, error) {
	fi, payload, err := decodeArchiveStream(r, size)
	if err != nil {
		return nil, corruptf(expected, ObjFile, "%v", err)
	}
	defer payload.release()
	h := sha256.New()
	h.Write(contentStreamPrefix(fi))
	if payload != nil {
		var hw io.Writer = h
		var pipe *hashPipe
		if fi.Size >= asyncHashMin {
			pipe = newHashPipe(h)
			hw = pipeWriter{pipe}
		}
		err = copyExactly(hw, payload, fi.Size)
		if pipe != nil {
			pipe.close()
		}
		if err != nil {
			return nil, corruptf(expected, ObjFile, "%v", err)
		}
	}
	var c Checksum
	h.Sum(c[:0])
	if c != expected {
		return nil, corruptf(expected, ObjFile, "checksum expected='%s' actual='%s'", expected, c)
	}
	return fi, nil
}

type pipeWriter struct{ p *hashPipe }

func (w pipeWriter) Write(b []byte) (int, error) { w.p.Write(b); return len(b), nil }

// countingWriter counts what it writes and keeps the first error.
type countingWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("stage object: %w", err)
	}
	return n, err
}
