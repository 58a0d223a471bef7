package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
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

// PrefetchFile asks the kernel to read content object c into the page
// cache, in the background: a hint, which fails silently (then it returns
// nil). Readers that know what they will read next keep the disk busy with
// it meanwhile. The object stays open for the read that follows
// (Prefetched.ReadInto), which then does not look up its path again; a
// caller that does not read it closes it.
func (r *Repo) PrefetchFile(c Checksum) *Prefetched {
	fd, err := unix.Open(r.objectPath(c, ObjFile), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil
	}
	unix.Fadvise(fd, 0, 0, unix.FADV_WILLNEED)
	return &Prefetched{r: r, c: c, fd: fd}
}

// Prefetched is a content object PrefetchFile opened.
type Prefetched struct {
	r  *Repo
	c  Checksum
	fd int // -1 once read or closed
}

// ReadInto is Repo.ReadFileInto of the prefetched object, through the
// descriptor PrefetchFile opened, which it closes.
func (p *Prefetched) ReadInto(dst []byte) (*FileInfo, error) {
	fd := p.fd
	p.fd = -1
	return p.r.readFileInto(p.c, fd, dst)
}

// Close closes the object if ReadInto did not. It may be called again,
// and on a nil *Prefetched (a prefetch that failed).
func (p *Prefetched) Close() {
	if p != nil && p.fd >= 0 {
		unix.Close(p.fd)
		p.fd = -1
	}
}

// listXattrs returns a file's extended attributes sorted by name.
func listXattrs(p string) ([]Xattr, error) {
	names, err := getXattr(func(buf []byte) (int, error) { return unix.Llistxattr(p, buf) })
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	var xs []Xattr
	for _, n := range bytes.Split(names, []byte{0}) {
		if len(n) == 0 {
			continue
		}
		name := string(n)
		v, err := getXattr(func(buf []byte) (int, error) { return unix.Lgetxattr(p, name, buf) })
		if err != nil {
			return nil, fmt.Errorf("read xattr %s of %s: %w", name, p, err)
		}
		xs = append(xs, Xattr{Name: name, Value: v})
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].Name < xs[j].Name })
	return xs, nil
}

// getXattr calls a size-probing xattr syscall until the buffer fits.
func getXattr(call func([]byte) (int, error)) ([]byte, error) {
	for range 5 {
		n, err := call(nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		buf := make([]byte, n)
		n, err = call(buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew meanwhile
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, unix.ERANGE
}
