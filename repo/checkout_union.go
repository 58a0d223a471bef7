package repo

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Overwrite says what a checkout does with an entry already at a name it
// writes, as ostree checkout's --union, --union-add and --union-identical.
// An existing directory is always kept and filled, its metadata left as
// it is.
type Overwrite int

const (
	// OverwriteNone fails on any existing entry (the default).
	OverwriteNone Overwrite = iota
	// OverwriteUnion replaces existing files, keeping one that is already
	// the object's hardlink or has its checksum.
	OverwriteUnion
	// OverwriteAdd keeps existing files, only adds new ones.
	OverwriteAdd
	// OverwriteIdentical keeps existing files whose checksum is the
	// object's and fails on any other (ostree needs --require-hardlinks).
	OverwriteIdentical
)

// ErrCheckoutConflict: an existing file differs from the one a checkout
// with OverwriteIdentical (or OverwriteNone) would write.
var ErrCheckoutConflict = errors.New("file exists")

// CheckoutMsgError is a checkout failure whose message is ostree's own,
// so the command can print it as ostree does.
type CheckoutMsgError struct {
	Msg string
	Err error
}

func (e *CheckoutMsgError) Error() string { return e.Msg }
func (e *CheckoutMsgError) Unwrap() error { return e.Err }

// whiteoutPrefix marks a Docker/OCI whiteout: ".wh.NAME" removes NAME
// from what earlier layers checked out; opaqueWhiteout empties its
// directory first.
const (
	whiteoutPrefix = ".wh."
	opaqueWhiteout = ".wh..wh..opq"
)

// relPath is n's path as ostree's checkout filter sees it: from the
// checked-out root, "/" first, directories ending in "/".
func (c *checkout) relPath(n Node) string {
	p := n.Path
	if c.root != "/" {
		p = strings.TrimPrefix(p, c.root)
		if p == "" {
			p = "/"
		}
	}
	if n.IsDir && p != "/" {
		p += "/"
	}
	return p
}

// skipped reports whether the checkout's skip list names n.
func (c *checkout) skipped(n Node) bool {
	return c.o.Skip != nil && c.o.Skip(c.relPath(n))
}

// removeAt removes name in dirFd and, for a directory, everything under
// it, never following a symlink; a missing name is no error.
func removeAt(dirFd int, name string) error {
	err := unix.Unlinkat(dirFd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return fmt.Errorf("unlinkat(%s): %w", name, err)
	}
	// os.RemoveAll opens by path; through /proc it stays below dirFd
	// and removes what it finds without following symlinks.
	return os.RemoveAll("/proc/self/fd/" + strconv.Itoa(dirFd) + "/" + name)
}

// placing says how a file goes to its name, as prepare found the name.
type placing struct {
	// over: an entry of a union is there, to be replaced. A file is
	// created under a temporary name and renamed over it, as ostree
	// does, so that the name never goes missing and a failed write
	// leaves the old file; a symlink that is not a hardlink of the
	// object replaces it by unlink and symlink, as ostree does.
	over bool
	// freed: an entry was there and is gone (a union with whiteouts
	// removes it first, as ostree does).
	freed bool
	// linked: the file is a hardlink of the object or of its
	// uncompressed-cache entry, not a copy.
	linked bool
}

// replaced reports whether the file takes the place of an existing
// entry: ostree then leaves a copied symlink's owner and xattrs as
// symlink(2) made them.
func (p placing) replaced() bool { return p.over || p.freed }

// resolveExisting handles, before a file is written as name in dirFd, an
// entry already there under c.o.Overwrite: skip true means keep it and
// write nothing; otherwise p says how the name is to be taken. p.linked says
// the file would be a hardlink of the object or of its uncompressed-cache
// entry; a union then keeps an existing file of the same mode, owner, size
// and checksum as that, as ostree does.
func (c *checkout) resolveExisting(dirFd int, name string, n Node, fi *FileInfo, p placing) (placing, bool, error) {
	if c.o.Overwrite == OverwriteNone {
		return p, false, nil
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirFd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return p, false, nil
		}
		return p, false, fmt.Errorf("stat %s: %w", n.Path, err)
	}
	switch c.o.Overwrite {
	case OverwriteAdd:
		return p, true, nil
	case OverwriteIdentical:
		if c.identical(dirFd, name, &st, n, fi, p.linked) {
			return p, true, nil
		}
		return p, false, c.conflict(n, name, fi, p.linked)
	}
	if p.linked && c.identical(dirFd, name, &st, n, fi, true) {
		return p, true, nil
	}
	if c.o.Whiteouts {
		p.freed = true
		return p, false, removeAt(dirFd, name)
	}
	p.over = true
	return p, false, nil
}

// place creates the file as name in dirFd with create, which makes the
// name it is given and reports false, nil where the caller is to try
// another way. With p.over, that is a temporary name in dirFd, renamed
// over name once made, as ostree does.
func (c *checkout) place(dirFd int, name string, n Node, p placing, create func(to string) (bool, error)) (bool, error) {
	if !p.over {
		return create(name)
	}
	prefix := "tmp."
	if p.linked {
		prefix = "checkout-union-"
	}
	to := prefix + tempSuffix()
	ok, err := create(to)
	if !ok || err != nil {
		return ok, err
	}
	if err := unix.Renameat(dirFd, to, dirFd, name); err != nil {
		unix.Unlinkat(dirFd, to, 0)
		// ostree's words, with its temporary name.
		msg := fmt.Sprintf("Copy checkout of %s to %s: renameat(./%s, %s): %s", n.Content, name, to, name, strerror(err))
		if p.linked {
			msg = fmt.Sprintf("renameat(%s, %s): %s", to, name, strerror(err))
		}
		return false, &CheckoutMsgError{Msg: msg, Err: err}
	}
	return true, nil
}

// tempSuffix is six random letters and digits, as in glnx's temporary
// names.
func tempSuffix() string {
	const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [6]byte
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b[:])
}

// unlinkForSymlink frees name for a copied symlink of a union, as ostree
// does: by unlinking what is there.
func unlinkForSymlink(dirFd int, name string, n Node) error {
	if err := unix.Unlinkat(dirFd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &CheckoutMsgError{Msg: fmt.Sprintf("Copy checkout of %s to %s: unlinkat(%s): %s", n.Content, name, name, strerror(err)), Err: err}
	}
	return nil
}

// identical reports whether the existing entry st at name is the file n
// would become: the object itself, or a symlink to the same target, or a
// file of the same mode, owner, size and checksum.
func (c *checkout) identical(dirFd int, name string, st *unix.Stat_t, n Node, fi *FileInfo, linked bool) bool {
	if fi.IsSymlink() && !linked {
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return false
		}
		buf := make([]byte, unix.PathMax)
		k, err := unix.Readlinkat(dirFd, name, buf)
		return err == nil && string(buf[:k]) == fi.Target
	}
	var src unix.Stat_t
	if linked && c.hardlink {
		if unix.Lstat(c.r.objectPath(n.Content, ObjFile), &src) == nil && src.Dev == st.Dev && src.Ino == st.Ino {
			return true
		}
		if src.Mode != st.Mode || src.Size != st.Size || src.Uid != st.Uid || src.Gid != st.Gid {
			return false
		}
	} else if linked {
		// The cache entry, as a user checkout writes it.
		mode := uint32(fi.Mode&0o7777&^(unix.S_ISUID|unix.S_ISGID)) | unix.S_IFREG
		if st.Mode != mode || st.Size != int64(fi.Size) || int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid() {
			return false
		}
	}
	sum, err := ChecksumPath("/proc/self/fd/"+strconv.Itoa(dirFd)+"/"+name, c.r.mode == ModeBareUserOnly)
	return err == nil && sum == n.Content
}

// conflict is ostree's error for a file that exists and may not be
// replaced.
func (c *checkout) conflict(n Node, name string, fi *FileInfo, linked bool) error {
	if linked {
		loose := strings.TrimPrefix(c.r.objectPath(n.Content, ObjFile), c.r.objects+"/")
		return &CheckoutMsgError{Msg: fmt.Sprintf("Hardlinking %s to %s: File exists", loose, name), Err: ErrCheckoutConflict}
	}
	op := "linkat"
	if fi.IsSymlink() {
		op = "symlinkat"
	}
	return &CheckoutMsgError{Msg: fmt.Sprintf("Copy checkout of %s to %s: %s: File exists", n.Content, name, op), Err: ErrCheckoutConflict}
}

// strerror is errno's message as C's strerror words it.
func strerror(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		s := e.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}
