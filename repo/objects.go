package repo

import (
	"errors"
	"fmt"
	"os"

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

// OpenRawPayload opens a regular-file content object of a bare, bare-user
// or bare-user-only repository whose object file holds exactly the payload,
// so callers can read it (or hand the descriptor to the kernel) without
// copying. The bytes are not verified; fsck does that. fi is the object's
// metadata, as StatFile returns it.
func (r *Repo) OpenRawPayload(c Checksum, fi *FileInfo) (*os.File, error) {
	if r.mode == ModeArchive {
		return nil, fmt.Errorf("open %s.file: %w", c, ErrNotRaw)
	}
	if fi.IsSymlink() {
		return nil, fmt.Errorf("open %s.file: a symlink has no payload: %w", c, ErrNotRaw)
	}
	p := r.objectPath(c, ObjFile)
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, missing(c, ObjFile)
		}
		return nil, &ObjectError{Object: c.String() + ".file", Err: err}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &ObjectError{Object: c.String() + ".file", Err: err}
	}
	if !st.Mode().IsRegular() || uint64(st.Size()) != fi.Size {
		f.Close()
		return nil, corruptf(c, ObjFile, "object file is %v of %d bytes, want a regular file of %d", st.Mode().Type(), st.Size(), fi.Size)
	}
	return f, nil
}

// ReadMetadata returns a metadata object's bytes, verified against c.
func (r *Repo) ReadMetadata(c Checksum, t ObjectType) ([]byte, error) {
	return r.readMetadata(c, t)
}
