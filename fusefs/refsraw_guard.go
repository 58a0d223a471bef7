package fusefs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// The requests below have no business on refs/, a read-only view the
// kernel itself mostly keeps them from; should one come for a node of
// refs/, it is answered here, since go-fuse, which serves the others,
// does not know the node (and would panic).

var errROFS = fuse.Status(syscall.EROFS)

func (r *rawRefs) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	if isRefsID(in.NodeId) {
		return errROFS
	}
	return r.RawFileSystem.SetAttr(cancel, in, out)
}

func (r *rawRefs) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	if isRefsID(in.NodeId) {
		return errROFS
	}
	return r.RawFileSystem.Mknod(cancel, in, name, out)
}

func (r *rawRefs) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	if isRefsID(in.NodeId) {
		return errROFS
	}
	return r.RawFileSystem.Mkdir(cancel, in, name, out)
}

func (r *rawRefs) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if isRefsID(h.NodeId) {
		return errROFS
	}
	return r.RawFileSystem.Unlink(cancel, h, name)
}

func (r *rawRefs) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if isRefsID(h.NodeId) {
		return errROFS
	}
	return r.RawFileSystem.Rmdir(cancel, h, name)
}

func (r *rawRefs) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	if isRefsID(in.NodeId) || isRefsID(in.Newdir) {
		return errROFS
	}
	return r.RawFileSystem.Rename(cancel, in, oldName, newName)
}

func (r *rawRefs) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	if isRefsID(in.NodeId) || isRefsID(in.Oldnodeid) {
		return errROFS
	}
	return r.RawFileSystem.Link(cancel, in, name, out)
}

func (r *rawRefs) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	if isRefsID(h.NodeId) {
		return errROFS
	}
	return r.RawFileSystem.Symlink(cancel, h, target, name, out)
}

func (r *rawRefs) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	if isRefsID(in.NodeId) {
		return errROFS
	}
	return r.RawFileSystem.SetXAttr(cancel, in, attr, data)
}

func (r *rawRefs) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	if isRefsID(h.NodeId) {
		return errROFS
	}
	return r.RawFileSystem.RemoveXAttr(cancel, h, attr)
}

func (r *rawRefs) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	if isRefsID(in.NodeId) {
		return errROFS
	}
	return r.RawFileSystem.Create(cancel, in, name, out)
}

func (r *rawRefs) Tmpfile(cancel <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	if isRefsID(in.NodeId) {
		return errROFS
	}
	return r.RawFileSystem.Tmpfile(cancel, in, out)
}

func (r *rawRefs) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if isRefsID(in.NodeId) {
		return fuse.EINVAL // directories and symlinks only
	}
	return r.RawFileSystem.Open(cancel, in, out)
}

func (r *rawRefs) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if isRefsID(in.NodeId) {
		return nil, fuse.EINVAL
	}
	return r.RawFileSystem.Read(cancel, in, buf)
}

func (r *rawRefs) Lseek(cancel <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	if isRefsID(in.NodeId) {
		return fuse.EINVAL
	}
	return r.RawFileSystem.Lseek(cancel, in, out)
}

func (r *rawRefs) GetLk(cancel <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	if isRefsID(in.NodeId) {
		return fuse.ENOSYS
	}
	return r.RawFileSystem.GetLk(cancel, in, out)
}

func (r *rawRefs) SetLk(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	if isRefsID(in.NodeId) {
		return fuse.ENOSYS
	}
	return r.RawFileSystem.SetLk(cancel, in)
}

func (r *rawRefs) SetLkw(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	if isRefsID(in.NodeId) {
		return fuse.ENOSYS
	}
	return r.RawFileSystem.SetLkw(cancel, in)
}

func (r *rawRefs) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	if !isRefsID(in.NodeId) {
		r.RawFileSystem.Release(cancel, in)
	}
}

func (r *rawRefs) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	if isRefsID(in.NodeId) {
		return 0, errROFS
	}
	return r.RawFileSystem.Write(cancel, in, data)
}

func (r *rawRefs) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	if isRefsID(in.NodeId) {
		return 0, errROFS
	}
	return r.RawFileSystem.Writev(cancel, in, data)
}

func (r *rawRefs) CopyFileRange(cancel <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	if isRefsID(in.NodeId) || isRefsID(in.NodeIdOut) {
		return 0, errROFS
	}
	return r.RawFileSystem.CopyFileRange(cancel, in)
}

func (r *rawRefs) Ioctl(cancel <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	if isRefsID(in.NodeId) {
		return fuse.Status(syscall.ENOTTY)
	}
	return r.RawFileSystem.Ioctl(cancel, in, inbuf, out, outbuf)
}

func (r *rawRefs) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	if isRefsID(in.NodeId) {
		return fuse.OK
	}
	return r.RawFileSystem.Flush(cancel, in)
}

func (r *rawRefs) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	if isRefsID(in.NodeId) {
		return fuse.OK
	}
	return r.RawFileSystem.Fsync(cancel, in)
}

func (r *rawRefs) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	if isRefsID(in.NodeId) {
		return errROFS
	}
	return r.RawFileSystem.Fallocate(cancel, in)
}

func (r *rawRefs) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	if isRefsID(in.NodeId) {
		return fuse.OK
	}
	return r.RawFileSystem.FsyncDir(cancel, in)
}
