package repo

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo/gvariant"
)

// applyMetadata gives a staged regular file the owner, mode, xattrs and
// mtime its repository mode calls for.
func applyMetadata(fd int, fi *FileInfo, mode Mode) error {
	return (&staged{fd: fd}).applyMetadata(fi, mode)
}

// objectPerm is the mode of the file that stores content object fi in a
// repository of mode, as ostree gives it.
func objectPerm(fi *FileInfo, mode Mode) uint32 {
	switch mode {
	case ModeArchive:
		return 0o644
	case ModeBareUser:
		if fi.IsSymlink() {
			return 0o644
		}
		return fi.Mode&0o775 | 0o400
	case ModeBareUserOnly:
		return fi.Mode & 0o775
	default:
		return fi.Mode & 0o7777
	}
}

// createObject opens a new file for content object fi in a repository of
// mode, created with its final mode where the umask allows.
func (d *stageDir) createObject(fi *FileInfo, mode Mode) (*staged, error) {
	perm := objectPerm(fi, mode)
	if mode == ModeBare {
		// The fchown that comes first would clear setuid and setgid.
		perm &^= 0o6000
	}
	return d.createMode(false, perm)
}

// applyMetadata gives the staged regular file s the owner, mode, xattrs
// and mtime its repository mode calls for; the mode it was created with
// is not set again.
func (s *staged) applyMetadata(fi *FileInfo, mode Mode) error {
	fd := s.fd
	perm := objectPerm(fi, mode)
	var err error
	switch mode {
	case ModeArchive:
		err = s.setPerm(perm)
	case ModeBareUser:
		if err = s.setPerm(perm); err == nil {
			meta := gvariant.EncodeDirMeta(gvariant.DirMeta{UID: fi.UID, GID: fi.GID, Mode: fi.Mode, Xattrs: xattrsToGV(fi.Xattrs)})
			err = unix.Fsetxattr(fd, "user.ostreemeta", meta, 0)
		}
	case ModeBare:
		if err = unix.Fchown(fd, int(fi.UID), int(fi.GID)); err == nil {
			err = s.setPerm(perm)
		}
		for _, x := range fi.Xattrs {
			if err != nil {
				break
			}
			err = unix.Fsetxattr(fd, x.Name, x.Value, 0)
		}
	case ModeBareUserOnly:
		err = s.setPerm(perm)
	}
	if err == nil && mode != ModeArchive {
		err = futimensZero(fd)
	}
	if err != nil {
		return fmt.Errorf("write content object: set metadata: %w", err)
	}
	return nil
}

// writeSymlink stages a symlink of a bare or bare-user-only repository.
func (tx *Transaction) writeSymlink(fi *FileInfo) (*staged, error) {
	d := tx.stage
	for i := 0; ; i++ {
		name := ".tmp-link-" + strconv.FormatUint(uint64(randomInt()), 36)
		err := unix.Symlinkat(fi.Target, d.fd, name)
		if errors.Is(err, unix.EEXIST) && i < 100 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write symlink in %s: %w", d.path, err)
		}
		s := &staged{d: d, fd: -1, name: name}
		if tx.r.mode == ModeBare {
			err = unix.Fchownat(d.fd, name, int(fi.UID), int(fi.GID), unix.AT_SYMLINK_NOFOLLOW)
			for _, x := range fi.Xattrs {
				if err != nil {
					break
				}
				// No *at form exists for xattrs; symlinks are rare.
				err = unix.Lsetxattr(filepath.Join(d.path, name), x.Name, x.Value, 0)
			}
		}
		if err == nil {
			err = unix.UtimesNanoAt(d.fd, name, make([]unix.Timespec, 2), unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			return nil, tx.discard(s, fmt.Errorf("write symlink: %w", err))
		}
		return s, nil
	}
}
