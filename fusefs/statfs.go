package fusefs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// statfs reports the size and free space of the file system the
// repository is on, which pulls fill: what df and disk monitors want to
// watch (a mount showing itself full, as read-only file systems often do,
// sets off their alarms). The mount is read-only, so the kernel adds
// ST_RDONLY to the flags itself.
func (f *FS) statfs(out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	if err := syscall.Statfs(f.r.Path(), &st); err != nil {
		return fs.ToErrno(err)
	}
	out.FromStatfsT(&st)
	return 0
}

// anyStatfs answers STATFS of every node with the repository's file
// system (FS.statfs), without looking the node up: go-fuse answers zeros
// for a node without a Statfs method, and the answer is the same
// wherever df is asked.
type anyStatfs struct {
	fuse.RawFileSystem
	f *FS
}

func (a anyStatfs) StatFs(cancel <-chan struct{}, in *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	return fuse.Status(a.f.statfs(out))
}
