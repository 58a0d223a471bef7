package fusefs

import (
	"errors"
	"syscall"

	"github.com/repofs/repofs/repo"
)

// errno maps a repo error to what a FUSE caller sees, once, at the edge:
// missing → ENOENT, anything wrong with an object → EIO (and logged with
// the object's name, since the caller only sees the errno).
func (f *FS) errno(op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var en syscall.Errno
	switch {
	case errors.Is(err, repo.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, repo.ErrNotDir):
		return syscall.ENOTDIR
	case errors.Is(err, repo.ErrLoop):
		return syscall.ELOOP
	case errors.As(err, &en):
		return en
	}
	f.log.Error("fusefs: "+op, "err", err)
	return syscall.EIO
}
