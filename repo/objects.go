package repo

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ListCommits returns every commit object present in objects/, complete or
// partial, in no particular order.
func (r *Repo) ListCommits() ([]Checksum, error) {
	return r.listObjects(ObjCommit)
}

// ErrNotRaw means a content object's payload is not stored as plain bytes
// (archive repositories compress it).
var ErrNotRaw = errors.New("payload is not stored raw")

// ReadRawAt reads the payload of a regular-file content object of a bare,
// bare-user or bare-user-only repository, whose object file holds exactly
// the payload, at off. The bytes are not verified; fsck does that. fi is
// the object's metadata, as StatFile returns it. Raw system calls, no
// *os.File: a mount calls this for every READ of a file not yet in the
// page cache.
func (r *Repo) ReadRawAt(c Checksum, fi *FileInfo, p []byte, off int64) (int, error) {
	name := c.String() + ".file"
	if r.mode == ModeArchive {
		return 0, fmt.Errorf("read %s: %w", name, ErrNotRaw)
	}
	if fi.IsSymlink() {
		return 0, fmt.Errorf("read %s: a symlink has no payload: %w", name, ErrNotRaw)
	}
	fd, err := unix.Open(r.objectPath(c, ObjFile), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return 0, missing(c, ObjFile)
	}
	if err != nil {
		return 0, &ObjectError{Object: name, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, &ObjectError{Object: name, Err: err}
	}
	if st.Mode&sIFMT != sIFREG || uint64(st.Size) != fi.Size {
		return 0, corruptf(c, ObjFile, "object file is of mode 0%o and %d bytes, want a regular file of %d", st.Mode, st.Size, fi.Size)
	}
	n := 0
	for n < len(p) && off+int64(n) < st.Size {
		m, err := unix.Pread(fd, p[n:], off+int64(n))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, &ObjectError{Object: name, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// ReadMetadata returns a metadata object's bytes, verified against c.
func (r *Repo) ReadMetadata(c Checksum, t ObjectType) ([]byte, error) {
	return r.readMetadata(c, t)
}
