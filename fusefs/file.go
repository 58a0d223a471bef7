package fusefs

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/repo"
)

// Open serves a regular file. Bare repositories hand the object file itself
// to the kernel (passthrough where offered, pread otherwise); archive
// repositories inflate through the content cache.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND|syscall.O_CREAT) != 0 {
		return nil, 0, syscall.EROFS
	}
	if n.fi.IsSymlink() {
		return nil, 0, syscall.ELOOP
	}
	if n.fs.r.Mode() != repo.ModeArchive {
		f, err := n.fs.r.OpenRawPayload(n.content, n.fi)
		if err != nil {
			return nil, 0, n.fs.errno("open "+n.content.String()+".file", err)
		}
		return &rawHandle{f: f}, fuse.FOPEN_KEEP_CACHE, 0
	}
	e, err := n.fs.content.acquire(n.content, int64(n.fi.Size))
	if err != nil {
		return nil, 0, n.fs.errno("open "+n.content.String()+".filez", err)
	}
	return &inflatedHandle{fs: n.fs, e: e}, fuse.FOPEN_KEEP_CACHE, 0
}

// rawHandle reads an object file of a bare repository.
type rawHandle struct {
	f *os.File
}

var (
	_ fs.FilePassthroughFder = (*rawHandle)(nil) // the kernel reads the object itself
	_ fs.FileReader          = (*rawHandle)(nil) // when passthrough is not available
	_ fs.FileReleaser        = (*rawHandle)(nil)
	_ fs.FileReader          = (*inflatedHandle)(nil)
	_ fs.FileReleaser        = (*inflatedHandle)(nil)
)

func (h *rawHandle) PassthroughFd() (int, bool) { return int(h.f.Fd()), true }

func (h *rawHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.f.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fs.ToErrno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *rawHandle) Release(ctx context.Context) syscall.Errno {
	return fs.ToErrno(h.f.Close())
}

// inflatedHandle reads an archive file through its cache entry.
type inflatedHandle struct {
	fs *FS
	e  *inflated
}

func (h *inflatedHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.e.readAt(dest, off)
	if err != nil {
		return nil, h.fs.errno("read "+h.e.c.String()+".filez", err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *inflatedHandle) Release(ctx context.Context) syscall.Errno {
	h.fs.content.release(h.e)
	return 0
}
