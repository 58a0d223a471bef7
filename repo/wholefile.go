package repo

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/bufpool"
	"github.com/repofs/repofs/internal/inflate"
)

// maxWholeFile bounds the .filez ReadFileInto reads into memory at once.
const maxWholeFile = 64 << 20

// ReadFileInto reads the whole payload of regular file c into dst, which
// must be exactly as long, and verifies it against c. Of an archive
// repository's .filez it decodes the payload in one go, straight into dst
// (package inflate), about twice as fast as streaming it through OpenFile;
// other modes read through OpenFile.
func (r *Repo) ReadFileInto(c Checksum, dst []byte) (*FileInfo, error) {
	return r.readFileInto(c, -1, dst)
}

// readFileInto is ReadFileInto of c open as fd (which it closes), or, with
// fd -1, opened here.
func (r *Repo) readFileInto(c Checksum, fd int, dst []byte) (*FileInfo, error) {
	if r.mode != ModeArchive {
		if fd >= 0 {
			unix.Close(fd)
		}
		return r.readFileThrough(c, dst)
	}
	name := c.String() + "." + ObjFile.Ext()
	if fd < 0 {
		// Bare system calls: a file read whole needs no *os.File.
		var err error
		fd, err = unix.Open(r.objectPath(c, ObjFile), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		switch {
		case errors.Is(err, unix.ENOENT):
			return nil, missing(c, ObjFile)
		case errors.Is(err, unix.ELOOP):
			return nil, corruptf(c, ObjFile, "object is a symlink, not a file")
		case err != nil:
			return nil, &ObjectError{Object: name, Err: err}
		}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &ObjectError{Object: name, Err: err}
	}
	if st.Mode&sIFMT != sIFREG || st.Size > maxWholeFile {
		return nil, &ObjectError{Object: name, Err: fmt.Errorf("not a regular file of at most %d bytes (mode 0%o, %d bytes)", maxWholeFile, st.Mode, st.Size)}
	}
	fi, payload, buf, err := loadFilez(fd, st.Size)
	if err != nil {
		return nil, &ObjectError{Object: name, Err: err}
	}
	defer bufpool.Put(buf)
	if msg := fi.validate(); msg != "" {
		return nil, corruptf(c, ObjFile, "%s", msg)
	}
	if err := checkWhole(c, fi, dst); err != nil {
		return nil, err
	}
	if err := inflate.Decode(dst, payload); err != nil {
		return nil, corruptf(c, ObjFile, "%v", err)
	}
	h := sha256.New()
	h.Write(contentStreamPrefix(fi))
	h.Write(dst)
	if got := Checksum(h.Sum(nil)); got != c {
		return nil, corruptf(c, ObjFile, "checksum expected='%s' actual='%s'", c, got)
	}
	return fi, nil
}

// checkWhole checks that c is a regular file of len(dst) bytes. The
// caller knows them from an earlier stat of the same object, so anything
// else means the object changed: it is corrupt.
func checkWhole(c Checksum, fi *FileInfo, dst []byte) error {
	if fi.IsSymlink() {
		return corruptf(c, ObjFile, "a symlink, was a regular file of %d bytes", len(dst))
	}
	if fi.Size != uint64(len(dst)) {
		return corruptf(c, ObjFile, "payload of %d bytes, was %d", fi.Size, len(dst))
	}
	return nil
}

// loadFilez reads the .filez of size bytes open as fd whole into a pooled
// buffer and decodes its header: the metadata, and the compressed payload
// within the buffer, which it returns too, for the caller to put back
// (bufpool.Put) once done with it.
func loadFilez(fd int, size int64) (*FileInfo, []byte, []byte, error) {
	b := bufpool.Get(int(size))
	fail := func(err error) (*FileInfo, []byte, []byte, error) {
		bufpool.Put(b)
		return nil, nil, nil, err
	}
	for n := 0; n < len(b); {
		m, err := unix.Pread(fd, b[n:], int64(n))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fail(err)
		case m == 0:
			return fail(fmt.Errorf("%w; object shrank while read", ErrCorrupt))
		}
		n += m
	}
	if len(b) < 8 {
		return fail(fmt.Errorf("%w; truncated archive header", ErrCorrupt))
	}
	n, err := archiveHeaderLen(b, int64(len(b)))
	if err != nil {
		return fail(err)
	}
	// A copy: the xattrs decoded point into the header, and b goes back
	// to a pool while the FileInfo lives on.
	fi, err := archiveFileInfo(bytes.Clone(b[8:8+n]), int64(len(b)))
	if err != nil {
		return fail(err)
	}
	return fi, b[8+n:], b, nil
}

// readFileThrough is ReadFileInto through OpenFile's verifying reader.
func (r *Repo) readFileThrough(c Checksum, dst []byte) (*FileInfo, error) {
	fi, rc, err := r.OpenFile(c)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if err := checkWhole(c, fi, dst); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rc, dst); err != nil {
		return nil, err
	}
	// The reader verifies the checksum when it reaches the end.
	if _, err := rc.Read(make([]byte, 1)); err != io.EOF {
		if err == nil {
			err = corruptf(c, ObjFile, "payload longer than its header says")
		}
		return nil, err
	}
	return fi, nil
}

// wholeBudget bounds the compressed bytes that open archive readers hold
// in memory at once (see openArchiveWhole); past it, objects stream from
// their file through klauspost's inflater instead.
var wholeBudget atomic.Int64

const maxWholeHeld = 64 << 20

// wholeInflater serves an archive payload decoded from a .filez read
// whole into memory: package inflate reads its input 64 bits at a time and
// decodes about twice as fast as a streaming inflater. A payload of up to
// smallPayload bytes is decoded at once into a buffer of its size (a
// streaming window would be larger than most payloads); a larger one
// streams through an inflate.Reader.
type wholeInflater struct {
	z    *inflate.Reader // a large payload's; nil for a small one
	in   []byte          // the .filez, while z reads it
	out  []byte          // a small payload, decoded
	r    int             // how much of out was read
	held int64           // bytes counted in wholeBudget
}

// smallPayload is the largest payload decoded at once.
const smallPayload = 1 << 20

var wholeReaders sync.Pool // of *inflate.Reader, each with its window

func (w *wholeInflater) Read(p []byte) (int, error) {
	switch {
	case w.z != nil:
		return w.z.Read(p)
	case w.out == nil:
		return 0, io.ErrClosedPipe
	case w.r == len(w.out):
		return 0, io.EOF
	}
	n := copy(p, w.out[w.r:])
	w.r += n
	return n, nil
}

// release returns the buffers to their pools; w must not be used after.
func (w *wholeInflater) release() {
	if w.z != nil {
		w.z.Reset(nil)
		wholeReaders.Put(w.z)
		bufpool.Put(w.in)
	}
	if w.out != nil {
		bufpool.Put(w.out)
	}
	wholeBudget.Add(-w.held)
	*w = wholeInflater{}
}

// openArchiveWhole reads the .filez open as fd, of size bytes, whole and
// returns its metadata and payload, or ok false when the budget of bytes
// held is spent (the caller streams from fd then). fd is left open either
// way, and is no longer needed once ok; the caller validates the metadata.
func openArchiveWhole(fd int, size int64) (fi *FileInfo, body io.Reader, ok bool, err error) {
	if wholeBudget.Add(size) > maxWholeHeld {
		wholeBudget.Add(-size)
		return nil, nil, false, nil
	}
	defer wholeBudget.Add(-size) // held only while decoding, unless streamed
	fi, payload, buf, err := loadFilez(fd, size)
	if err != nil {
		return nil, nil, true, err
	}
	if fi.IsSymlink() {
		bufpool.Put(buf)
		return fi, nil, true, nil
	}
	if fi.Size <= smallPayload {
		defer bufpool.Put(buf)
		out := bufpool.Get(int(fi.Size))
		if err := inflate.Decode(out, payload); err != nil {
			bufpool.Put(out)
			return nil, nil, true, fmt.Errorf("%w; %v", ErrCorrupt, err)
		}
		wholeBudget.Add(int64(fi.Size))
		return fi, &wholeInflater{out: out, held: int64(fi.Size)}, true, nil
	}
	z, _ := wholeReaders.Get().(*inflate.Reader)
	if z == nil {
		z = inflate.NewReader(nil)
	}
	z.Reset(payload)
	wholeBudget.Add(size) // the reader holds the .filez until released
	return fi, &wholeInflater{z: z, in: buf, held: size}, true, nil
}
