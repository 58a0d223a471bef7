package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// entryCursor serves a listing's entries, made once by list at its first
// request, to READDIR(PLUS) and Seekdir: refs/ and commits/ listings
// embed it and answer lookups their own way.
type entryCursor struct {
	list func() ([]fuse.DirEntry, syscall.Errno)
	ents []fuse.DirEntry
	read bool
	pos  int
}

func (l *entryCursor) fill() syscall.Errno {
	if l.read {
		return 0
	}
	ents, errno := l.list()
	if errno == 0 {
		l.ents, l.read = ents, true
	}
	return errno
}

func (l *entryCursor) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if errno := l.fill(); errno != 0 {
		return nil, errno
	}
	if l.pos >= len(l.ents) {
		return nil, 0
	}
	e := l.ents[l.pos]
	l.pos++
	return &e, 0
}

func (l *entryCursor) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if errno := l.fill(); errno != 0 {
		return errno
	}
	if off > uint64(len(l.ents)) {
		return syscall.EINVAL
	}
	l.pos = int(off)
	return 0
}
