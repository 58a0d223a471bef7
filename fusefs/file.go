package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/repo"
)

// Open answers ENOSYS. With FUSE_NO_OPEN_SUPPORT the kernel takes that as
// success and never sends OPEN or RELEASE again for any file of the mount;
// it then keeps each file's pages cached across opens, as FOPEN_KEEP_CACHE
// would. Reading a small file costs one READ the first time and no round
// trip at all afterwards, where an open, a flush and a release cost three
// every time, so reading a tree again makes no request at all. FUSE
// passthrough, which needs an OPEN and a RELEASE per file, is slower for
// that reason on trees of small files. The mount is read-only, so the
// kernel refuses writing opens itself.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND|syscall.O_CREAT) != 0 {
		return nil, 0, syscall.EROFS
	}
	return nil, 0, syscall.ENOSYS
}

// reader is a repository mode's way of serving file reads, picked once in
// New (newReader); it owns the state its reads and read-ahead keep.
type reader interface {
	// read serves a READ of regular file n at off into dest.
	read(n *fileNode, dest []byte, off int64) (fuse.ReadResult, syscall.Errno)
	// listed runs when the last request of d's listing is answered: the
	// kernel knows the inodes of d's files then.
	listed(d *dirNode)
	// idle reports whether no read-ahead is running (for tests).
	idle() bool
}

// newReader returns the read strategy for f's repository mode.
func newReader(f *FS) reader {
	if f.r.Mode() == repo.ModeArchive {
		return newArchiveReader(f)
	}
	return newBareReader(f)
}

// Read serves the kernel's reads, which come without a file handle,
// through the mode's read strategy.
func (n *fileNode) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if n.fi.IsSymlink() {
		return nil, syscall.EINVAL
	}
	return n.fs.read.read(n, dest, off)
}

// Flush answers ENOSYS, after which the kernel never sends FLUSH again: a
// read-only file has nothing to flush, and close saves a round trip.
func (n *fileNode) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	return syscall.ENOSYS
}
