package repo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo/gvariant"
)

// applyMetadata gives a staged regular file the owner, mode, xattrs and
// mtime its repository mode calls for.
func applyMetadata(f *os.File, fi *FileInfo, mode Mode) error {
	fd := int(f.Fd())
	var err error
	switch mode {
	case ModeArchive:
		err = f.Chmod(0o644)
	case ModeBareUser:
		perm := fi.Mode&0o775 | 0o400
		if fi.IsSymlink() {
			perm = 0o644
		}
		if err = f.Chmod(os.FileMode(perm)); err == nil {
			meta := gvariant.EncodeDirMeta(gvariant.DirMeta{UID: fi.UID, GID: fi.GID, Mode: fi.Mode, Xattrs: fi.Xattrs})
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
			err = unix.Fsetxattr(fd, xattrName(x), x.Value, 0)
		}
	case ModeBareUserOnly:
		err = unix.Fchmod(fd, fi.Mode&0o775)
	}
	if err == nil && mode != ModeArchive {
		err = unix.Futimes(fd, []unix.Timeval{{}, {}})
	}
	if err != nil {
		return fmt.Errorf("write content object: set metadata: %w", err)
	}
	return nil
}

// writeSymlink stages a symlink of a bare or bare-user-only repository.
func (tx *Transaction) writeSymlink(fi *FileInfo) (*staged, error) {
	for i := 0; ; i++ {
		p := filepath.Join(tx.staging.Path, fmt.Sprintf(".tmp-link-%d-%d", os.Getpid(), randomInt()))
		err := os.Symlink(fi.Target, p)
		if os.IsExist(err) && i < 100 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write symlink: %w", err)
		}
		s := &staged{path: p}
		if tx.r.mode == ModeBare {
			err = unix.Lchown(p, int(fi.UID), int(fi.GID))
			for _, x := range fi.Xattrs {
				if err != nil {
					break
				}
				err = unix.Lsetxattr(p, xattrName(x), x.Value, 0)
			}
		}
		if err == nil {
			err = unix.Lutimes(p, []unix.Timeval{{}, {}})
		}
		if err != nil {
			return nil, tx.discard(s, fmt.Errorf("write symlink: %w", err))
		}
		return s, nil
	}
}

func xattrName(x gvariant.Xattr) string { return strings.TrimSuffix(string(x.Name), "\x00") }
