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
// every time: reading every file of the Go tree (15k files) again made 45k
// requests, now none. FUSE passthrough, which needs an OPEN and a RELEASE
// per file, measured 5× slower on that read than this. The mount is
// read-only, so the kernel refuses writing opens itself.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND|syscall.O_CREAT) != 0 {
		return nil, 0, syscall.EROFS
	}
	return nil, 0, syscall.ENOSYS
}

// Read serves the kernel's reads, which come without a file handle. Bare
// repositories read the object file itself; archive repositories inflate
// through the content cache, so neither random nor repeated reads inflate
// from byte 0 again.
func (n *fileNode) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if n.fi.IsSymlink() {
		return nil, syscall.EINVAL
	}
	if n.fs.r.Mode() != repo.ModeArchive {
		if off == 0 {
			n.fs.rawReadAhead(n.place())
		}
		return n.readRaw(dest, off)
	}
	if off == 0 {
		n.fs.readAhead(n.place())
	}
	e, err := n.fs.content.Acquire(n.content, int64(n.fi.Size))
	if err != nil {
		return nil, n.fs.errno("open "+n.content.String()+".filez", err)
	}
	defer n.fs.content.Release(e, false)
	if e.InMemory() {
		e.MarkRead()
	}
	k, err := e.ReadAt(dest, off)
	if err != nil {
		return nil, n.fs.errno("read "+n.content.String()+".filez", err)
	}
	if e.OnDisk() {
		// After this READ's own bytes, so it never waits for more.
		n.fs.readAheadInFile(e, off+int64(len(dest)))
	}
	return fuse.ReadResultData(dest[:k]), 0
}

// readRaw reads a bare repository's object file. Opening it per READ costs
// a few microseconds, next to a round trip; a small file is one READ.
func (n *fileNode) readRaw(dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	k, err := n.fs.r.ReadRawAt(n.content, n.fi, dest, off)
	if err != nil {
		return nil, n.fs.errno("read "+n.content.String()+".file", err)
	}
	return fuse.ReadResultData(dest[:k]), 0
}

// Flush answers ENOSYS, after which the kernel never sends FLUSH again: a
// read-only file has nothing to flush, and close saves a round trip.
func (n *fileNode) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	return syscall.ENOSYS
}
