package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo/gvariant"
)

// openBare reads a content object of a bare or bare-user-only repository,
// where the object is the file itself with its real metadata.
func openBare(p string, userOnly bool) (*FileInfo, io.Reader, *os.File, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, nil, nil, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	fi := &FileInfo{UID: st.Uid, GID: st.Gid, Mode: st.Mode}
	if userOnly {
		fi.UID, fi.GID = 0, 0
	} else {
		xs, err := listXattrs(p)
		if err != nil {
			return nil, nil, nil, err
		}
		fi.Xattrs = xs
	}
	if st.Mode&sIFMT == sIFLNK {
		t, err := os.Readlink(p)
		if err != nil {
			return nil, nil, nil, err
		}
		fi.Target = t
		return fi, nil, nil, nil
	}
	if st.Mode&sIFMT != sIFREG {
		return nil, nil, nil, fmt.Errorf("%w; not a regular file or symlink", ErrCorrupt)
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	fi.Size = uint64(st.Size)
	return fi, f, f, nil
}

// openBareUser reads a content object of a bare-user repository: a regular
// file whose real owner, mode and xattrs are in its user.ostreemeta xattr,
// and whose content is the target (plus a NUL) when it stands for a symlink.
func openBareUser(p string) (*FileInfo, io.Reader, *os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, nil, f, err
	}
	fi, err := bareUserMeta(func(buf []byte) (int, error) { return unix.Fgetxattr(int(f.Fd()), "user.ostreemeta", buf) })
	if err != nil {
		return nil, nil, f, err
	}
	if fi.IsSymlink() {
		if st.Size() > 4096 {
			return nil, nil, f, fmt.Errorf("%w; symlink target of %d bytes", ErrCorrupt, st.Size())
		}
		b, err := io.ReadAll(f)
		if err != nil {
			return nil, nil, f, err
		}
		fi.Target = string(bytes.TrimSuffix(b, []byte{0}))
		return fi, nil, f, nil
	}
	fi.Size = uint64(st.Size())
	return fi, f, f, nil
}

// statBareUser is openBareUser without the payload, by path: an lstat and
// one lgetxattr, not an open, fstat, two fgetxattrs and a close. A mount
// lists directories by stating every object in them.
func statBareUser(p string) (*FileInfo, io.Reader, *os.File, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, nil, nil, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	if st.Mode&sIFMT != sIFREG {
		return nil, nil, nil, fmt.Errorf("%w; not a regular file", ErrCorrupt)
	}
	fi, err := bareUserMeta(func(buf []byte) (int, error) { return unix.Lgetxattr(p, "user.ostreemeta", buf) })
	if err != nil {
		return nil, nil, nil, err
	}
	if fi.IsSymlink() {
		return openBareUser(p) // rare: the target is the file's content
	}
	fi.Size = uint64(st.Size)
	return fi, nil, nil, nil
}

// bareUserMeta reads a bare-user object's user.ostreemeta with getxattr
// (by path or by descriptor): owner, mode and xattrs.
func bareUserMeta(getxattr func([]byte) (int, error)) (*FileInfo, error) {
	var small [256]byte // holds the user.ostreemeta of any file without large xattrs
	meta := small[:]
	n, err := getxattr(meta)
	if errors.Is(err, unix.ERANGE) {
		meta, err = getXattr(getxattr)
		n = len(meta)
	}
	switch {
	case errors.Is(err, unix.ENODATA):
		return nil, fmt.Errorf("%w; missing user.ostreemeta xattr", ErrCorrupt)
	case err != nil:
		return nil, fmt.Errorf("read user.ostreemeta: %w", err)
	}
	m, err := gvariant.DecodeDirMeta(meta[:n])
	if err != nil {
		return nil, fmt.Errorf("%w; user.ostreemeta: %v", ErrCorrupt, err)
	}
	xs, bad := xattrsFromGV(m.Xattrs)
	if bad != "" {
		return nil, fmt.Errorf("%w; user.ostreemeta: %s", ErrCorrupt, bad)
	}
	return &FileInfo{UID: m.UID, GID: m.GID, Mode: m.Mode, Xattrs: xs}, nil
}
