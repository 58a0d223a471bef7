package repo

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/klauspost/compress/flate"

	"github.com/repofs/repofs/internal/inflate"
	"github.com/repofs/repofs/repo/gvariant"
)

// FileInfo describes a content object: a regular file or a symlink.
type FileInfo struct {
	UID, GID, Mode uint32 // Mode includes the file type bits
	Size           uint64 // payload size; 0 for symlinks
	Target         string // symlink target
	Xattrs         []Xattr
}

// IsSymlink reports whether the object is a symlink.
func (fi *FileInfo) IsSymlink() bool { return fi.Mode&sIFMT == sIFLNK }

func (fi *FileInfo) header() gvariant.FileHeader {
	return gvariant.FileHeader{UID: fi.UID, GID: fi.GID, Mode: fi.Mode, Target: fi.Target, Xattrs: xattrsToGV(fi.Xattrs)}
}

// validate applies the rules every content object obeys.
func (fi *FileInfo) validate() string {
	switch fi.Mode & sIFMT {
	case sIFREG:
		if fi.Target != "" {
			return "regular file with a symlink target"
		}
	case sIFLNK:
		if fi.Target == "" || fi.Size != 0 {
			return "symlink without a target or with a payload"
		}
	default:
		return fmt.Sprintf("invalid file mode 0%o: only regular files and symlinks are content", fi.Mode)
	}
	if fi.Mode&^(sIFMT|07777) != 0 {
		return fmt.Sprintf("invalid file mode 0%o", fi.Mode)
	}
	return checkXattrNames(fi.Xattrs)
}

// contentStreamPrefix is what precedes the payload in the stream whose
// SHA-256 names a content object: u32be(len(H)) 0000 H.
func contentStreamPrefix(fi *FileInfo) []byte {
	h := gvariant.EncodeFileHeader(fi.header())
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 8+len(h)), uint32(len(h)))
	out = append(out, 0, 0, 0, 0)
	return append(out, h...)
}

// StatFile returns a content object's metadata without reading its payload.
// A symlink is verified against its checksum (it has no payload, so that is
// cheap): paths are resolved through symlinks, and a tampered target must
// not redirect a reader to another file.
func (r *Repo) StatFile(c Checksum) (*FileInfo, error) {
	fi, rc, err := r.openFile(c, false)
	if rc != nil {
		rc.Close()
	}
	if err == nil && fi.IsSymlink() {
		if got := Checksum(sha256.Sum256(contentStreamPrefix(fi))); got != c {
			return nil, corruptf(c, ObjFile, "symlink to %q hashes to %s", fi.Target, got)
		}
	}
	return fi, err
}

// OpenFile opens a content object. The reader yields the payload (nothing
// for a symlink) and, at its end, fails with ErrCorrupt unless the object
// hashed to its name, so a caller that reads to io.EOF has verified bytes.
func (r *Repo) OpenFile(c Checksum) (*FileInfo, io.ReadCloser, error) {
	return r.openFile(c, true)
}

func (r *Repo) openFile(c Checksum, payload bool) (*FileInfo, io.ReadCloser, error) {
	return r.openContentAt(r.objectPath(c, ObjFile), c, payload)
}

// openContentAt opens the content object c stored at p in this
// repository's representation.
func (r *Repo) openContentAt(p string, c Checksum, payload bool) (*FileInfo, io.ReadCloser, error) {
	return r.openContent(p, c, payload, true)
}

// openContent is openContentAt; with hash false the payload reader checks
// the size but not the checksum, for a caller that hashes what it reads
// itself (WriteContent given the expected checksum): one pass, not two.
func (r *Repo) openContent(p string, c Checksum, payload, hash bool) (*FileInfo, io.ReadCloser, error) {
	name := c.String() + "." + ObjFile.Ext()
	var (
		fi   *FileInfo
		body io.Reader
		f    *os.File
		err  error
	)
	switch r.mode {
	case ModeArchive:
		fi, body, f, err = openArchive(p, payload)
	case ModeBareUser:
		if payload {
			fi, body, f, err = openBareUser(p)
		} else {
			fi, body, f, err = statBareUser(p)
		}
	default:
		fi, body, f, err = openBare(p, r.mode == ModeBareUserOnly)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, missing(c, ObjFile)
		}
		return nil, nil, &ObjectError{name, err}
	}
	if msg := fi.validate(); msg != "" {
		if f != nil {
			f.Close()
		}
		releaseBody(body)
		return nil, nil, corruptf(c, ObjFile, "%s", msg)
	}
	if !payload {
		if f == nil {
			return fi, nil, nil // not a typed nil: callers compare with nil
		}
		return fi, f, nil
	}
	return fi, verifying(c, fi, body, f, hash), nil
}

// verifying wraps the payload body of the content object c (nil for a
// symlink), which f (if not nil) holds open, in a reader that checks its
// size and, with hash, its checksum at the end.
func verifying(c Checksum, fi *FileInfo, body io.Reader, f *os.File, hash bool) *verifyReader {
	if body == nil {
		body = strings.NewReader("")
	}
	v := &verifyReader{r: body, f: f, want: c, size: fi.Size}
	if !hash {
		return v
	}
	v.h = sha256.New()
	v.h.Write(contentStreamPrefix(fi))
	if fi.Size >= asyncHashMin {
		v.pipe = newHashPipe(v.h)
	}
	return v
}

// verifyReader hashes the payload as it is read and checks it at the end
// (with h nil, only its size).
type verifyReader struct {
	r    io.Reader
	f    *os.File
	h    hash.Hash
	want Checksum
	size uint64
	n    uint64
	err  error
	pipe *hashPipe // for large payloads, see asyncHashMin
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	switch {
	case v.pipe != nil:
		v.pipe.Write(p[:n])
	case v.h != nil:
		v.h.Write(p[:n])
	}
	v.n += uint64(n)
	switch {
	case v.n > v.size:
		v.err = corruptf(v.want, ObjFile, "payload longer than its size %d", v.size)
		return 0, v.err
	case err == io.EOF:
		if v.n != v.size {
			v.err = corruptf(v.want, ObjFile, "payload of %d bytes, header says %d", v.n, v.size)
			return n, v.err
		}
		if v.h == nil {
			v.err = io.EOF
			return n, err
		}
		var got Checksum
		if v.pipe != nil {
			v.pipe.Sum(got[:0])
		} else {
			v.h.Sum(got[:0])
		}
		if got != v.want {
			v.err = corruptf(v.want, ObjFile, "checksum expected='%s' actual='%s'", v.want, got)
			return n, v.err
		}
		v.err = io.EOF
	case err != nil:
		var oe *ObjectError
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF) || isFlateError(err):
			err = corruptf(v.want, ObjFile, "%v", err)
		case !errors.As(err, &oe):
			err = &ObjectError{v.want.String() + "." + ObjFile.Ext(), err}
		}
		v.err = err
	}
	return n, err
}

// whole returns the whole payload, verified as v verifies (with h nil,
// only its size), when it is already in memory and nothing of it was
// read yet (a small archive payload decoded at once): hashed in one
// call, then written in one, with no copy through a reader's buffer. ok false: read v instead. The bytes are v's
// until it is closed.
func (v *verifyReader) whole() (b []byte, ok bool, err error) {
	w, isWhole := v.r.(*wholeInflater)
	if !isWhole || w.out == nil || w.r != 0 || v.n != 0 || v.err != nil || v.pipe != nil {
		return nil, false, nil
	}
	b = w.out
	w.r = len(b) // read: v's next Read is its end
	v.n = uint64(len(b))
	if v.n != v.size {
		v.err = corruptf(v.want, ObjFile, "payload of %d bytes, header says %d", v.n, v.size)
		return nil, true, v.err
	}
	if v.h != nil {
		v.h.Write(b)
		var got Checksum
		v.h.Sum(got[:0])
		if got != v.want {
			v.err = corruptf(v.want, ObjFile, "checksum expected='%s' actual='%s'", v.want, got)
			return nil, true, v.err
		}
	}
	v.err = io.EOF
	return b, true, nil
}

// hashedRight reports whether v was read to its end and hashed to its
// checksum (not only checked for its size).
func (v *verifyReader) hashedRight() bool { return v.h != nil && v.err == io.EOF }

func (v *verifyReader) Close() error {
	if v.pipe != nil {
		v.pipe.close()
	}
	if releaseBody(v.r) {
		v.r = eofReader{}
	}
	if v.f != nil {
		return v.f.Close()
	}
	return nil
}

// releaseBody returns a payload reader's buffers to their pools, and
// reports whether it had any.
func releaseBody(r io.Reader) bool {
	switch z := r.(type) {
	case *inflater:
		z.release()
	case *wholeInflater:
		z.release()
	default:
		return false
	}
	return true
}

func isFlateError(err error) bool {
	var ce flate.CorruptInputError
	return errors.As(err, &ce) || errors.Is(err, inflate.ErrCorrupt)
}

// openArchive parses a ".filez": u32be(len) 0000 header DEFLATE(payload).
func openArchive(p string, payload bool) (*FileInfo, io.Reader, *os.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, nil, f, err
	}
	if payload && st.Size() <= maxWholeFile {
		if fi, body, ok, err := openArchiveWhole(int(f.Fd()), st.Size()); ok {
			return fi, body, f, err
		}
	}
	br := getBufReader(f)
	fi, body, err := decodeArchive(br, st.Size(), payload)
	if body == nil {
		// Nothing reads on: the buffer can serve the next object.
		br.Reset(nil)
		bufReaderPool.Put(br)
	}
	return fi, body, f, err
}

// decodeArchiveStream reads a .filez object of size bytes (as served by an
// archive repository) from r and returns its metadata and its inflated
// payload (nil for a symlink). Nothing is verified against a checksum here:
// the caller does that. Buffers and decompressor are pooled (a pull decodes
// one stream per object; allocating them was most of its garbage): the
// caller releases the payload once done with it.
func decodeArchiveStream(r io.Reader, size int64) (*FileInfo, *inflater, error) {
	br := getBufReader(r)
	fi, body, err := decodeArchive(br, size, true)
	z, _ := body.(*inflater)
	if z == nil {
		br.Reset(nil)
		bufReaderPool.Put(br)
	}
	if err == nil {
		if msg := fi.validate(); msg != "" {
			err = fmt.Errorf("%w; %s", ErrCorrupt, msg)
		}
	}
	if err != nil {
		z.release()
		return nil, nil, err
	}
	return fi, z, nil
}

func decodeArchive(br *bufio.Reader, size int64, payload bool) (*FileInfo, io.Reader, error) {
	var pre [8]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		return nil, nil, fmt.Errorf("%w; truncated archive header", ErrCorrupt)
	}
	n, err := archiveHeaderLen(pre[:], size)
	if err != nil {
		return nil, nil, err
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(br, hb); err != nil {
		return nil, nil, fmt.Errorf("%w; truncated archive header", ErrCorrupt)
	}
	fi, err := archiveFileInfo(hb, size)
	if err != nil || fi.IsSymlink() || !payload {
		return fi, nil, err
	}
	return fi, newInflater(br), nil
}

// archiveHeaderLen checks the 8 bytes that start a .filez of size bytes
// and returns the length of the header that follows them.
func archiveHeaderLen(pre []byte, size int64) (int64, error) {
	n := int64(binary.BigEndian.Uint32(pre[:4]))
	if pre[4]|pre[5]|pre[6]|pre[7] != 0 || n > size-8 || n > MaxMetadataSize {
		return 0, fmt.Errorf("%w; invalid archive header length %d", ErrCorrupt, n)
	}
	return n, nil
}

// archiveFileInfo decodes the header hb of a .filez of size bytes.
func archiveFileInfo(hb []byte, size int64) (*FileInfo, error) {
	h, err := gvariant.DecodeArchiveHeader(hb)
	if err != nil {
		return nil, fmt.Errorf("%w; archive header: %v", ErrCorrupt, err)
	}
	if h.Rdev != 0 {
		return nil, fmt.Errorf("%w; invalid rdev %d", ErrCorrupt, h.Rdev)
	}
	xs, bad := xattrsFromGV(h.Xattrs)
	if bad != "" {
		return nil, fmt.Errorf("%w; %s", ErrCorrupt, bad)
	}
	fi := &FileInfo{UID: h.UID, GID: h.GID, Mode: h.Mode, Size: h.Size, Target: h.Target, Xattrs: xs}
	if fi.IsSymlink() && size != 8+int64(len(hb)) {
		return nil, fmt.Errorf("%w; symlink with a payload", ErrCorrupt)
	}
	return fi, nil
}

// inflater decompresses a raw DEFLATE stream that must end the file.
type inflater struct {
	fr io.ReadCloser
	br *bufio.Reader
}

func (z *inflater) Read(p []byte) (int, error) {
	if z.fr == nil {
		return 0, io.ErrClosedPipe
	}
	n, err := z.fr.Read(p)
	if err == io.EOF {
		if _, perr := z.br.Peek(1); perr != io.EOF {
			return n, fmt.Errorf("%w; data after the compressed stream", ErrCorrupt)
		}
	}
	return n, err
}
