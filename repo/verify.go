package repo

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/bufpool"
)

// verifyChunk is how much of a payload VerifyContent reads at a time.
const verifyChunk = 1 << 20

// CheckPayload checks that payload, the whole payload of regular file c
// whose metadata is fi, hashes to c with it: the content stream is
// contentStreamPrefix(fi) followed by the payload. It fails with
// ErrCorrupt naming c otherwise.
func CheckPayload(c Checksum, fi *FileInfo, payload []byte) error {
	if err := checkWhole(c, fi, payload); err != nil {
		return err
	}
	h := sha256.New()
	h.Write(contentStreamPrefix(fi))
	h.Write(payload)
	if got := Checksum(h.Sum(nil)); got != c {
		return corruptf(c, ObjFile, "checksum expected='%s' actual='%s'", c, got)
	}
	return nil
}

// VerifyContent reads content object c whole and checks that it, with the
// metadata fi (as StatFile returned it), hashes to c: ErrCorrupt naming c
// if not, ErrNotFound if it is gone. Nothing of the payload is kept, so a
// caller can check an object before it hands out any of its bytes. In the
// bare modes the payload is read as ReadRawAt reads it; of an archive
// repository it is inflated.
func (r *Repo) VerifyContent(ctx context.Context, c Checksum, fi *FileInfo) error {
	if fi.IsSymlink() {
		_, err := r.StatFile(c) // verifies a symlink
		return err
	}
	if r.mode == ModeArchive {
		return r.verifyArchive(ctx, c, fi)
	}
	name := c.String() + "." + ObjFile.Ext()
	fd, err := unix.Open(r.objectPath(c, ObjFile), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return missing(c, ObjFile)
	case errors.Is(err, unix.ELOOP):
		return corruptf(c, ObjFile, "object is a symlink, not a file")
	case err != nil:
		return &ObjectError{Object: name, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &ObjectError{Object: name, Err: err}
	}
	if st.Mode&sIFMT != sIFREG || uint64(st.Size) != fi.Size {
		return corruptf(c, ObjFile, "object file is of mode 0%o and %d bytes, want a regular file of %d", st.Mode, st.Size, fi.Size)
	}
	unix.Fadvise(fd, 0, 0, unix.FADV_SEQUENTIAL)
	h := sha256.New()
	h.Write(contentStreamPrefix(fi))
	buf := bufpool.Get(int(min(st.Size, verifyChunk)))
	defer bufpool.Put(buf)
	for off := int64(0); off < st.Size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := unix.Pread(fd, buf[:min(int64(len(buf)), st.Size-off)], off)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return &ObjectError{Object: name, Err: err}
		case n == 0:
			return corruptf(c, ObjFile, "object shrank to %d bytes while read, want %d", off, st.Size)
		}
		h.Write(buf[:n])
		off += int64(n)
	}
	if got := Checksum(h.Sum(nil)); got != c {
		return corruptf(c, ObjFile, "checksum expected='%s' actual='%s'", c, got)
	}
	return nil
}

// verifyArchive is VerifyContent of an archive repository: the payload
// inflated through OpenFile's verifying reader, and the metadata compared
// with fi.
func (r *Repo) verifyArchive(ctx context.Context, c Checksum, fi *FileInfo) error {
	got, rc, err := r.OpenFile(c)
	if err != nil {
		return err
	}
	defer rc.Close()
	buf := bufpool.Get(verifyChunk)
	defer bufpool.Put(buf)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := rc.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if string(contentStreamPrefix(got)) != string(contentStreamPrefix(fi)) || got.Size != fi.Size {
		return corruptf(c, ObjFile, "metadata changed since it was read")
	}
	return nil
}
