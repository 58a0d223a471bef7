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
	var err error
	switch mode {
	case ModeArchive:
		err = unix.Fchmod(fd, 0o644)
	case ModeBareUser:
		perm := fi.Mode&0o775 | 0o400
		if fi.IsSymlink() {
			perm = 0o644
		}
		if err = unix.Fchmod(fd, perm); err == nil {
			meta := gvariant.EncodeDirMeta(gvariant.DirMeta{UID: fi.UID, GID: fi.GID, Mode: fi.Mode, Xattrs: xattrsToGV(fi.Xattrs)})
			err = unix.Fsetxattr(fd, "user.ostreemeta", meta, 0)
		}
	case ModeBare:
		if err = unix.Fchown(fd, int(fi.UID), int(fi.GID)); err == nil {
			err = unix.Fchmod(fd, fi.Mode&0o7777)
		}
		for _, x := range fi.Xattrs {
			if err != nil {
				break
			}
			err = unix.Fsetxattr(fd, x.Name, x.Value, 0)
		}
	case ModeBareUserOnly:
		err = unix.Fchmod(fd, fi.Mode&0o775)
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
