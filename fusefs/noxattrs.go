package fusefs

import "github.com/hanwen/go-fuse/v2/fuse"

// noXattrs hides every extended attribute (MountOptions.NoXattrs). It
// answers ENOSYS, after which the kernel fails getxattr and listxattr with
// EOPNOTSUPP itself, without asking, not even once: tools treat EOPNOTSUPP
// as "this file system has no xattrs" and stop asking (ls remembers it per
// device).
type noXattrs struct {
	fuse.RawFileSystem
}

func (noXattrs) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	return 0, fuse.ENOSYS
}

func (noXattrs) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	return 0, fuse.ENOSYS
}
