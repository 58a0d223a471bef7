package fusefs

import "github.com/hanwen/go-fuse/v2/fuse"

// selinuxXattr is the name SELinux (and ls -l, through libselinux) reads
// a file's security label from.
const selinuxXattr = "security.selinux"

// unlabeled answers a getxattr of security.selinux on an object that has
// no such xattr with EOPNOTSUPP ("this file system has no labels") rather
// than ENODATA. ls -l asks every file for its label, and FUSE caches no
// xattrs, so each ask is a round trip to the daemon, more than the rest of
// a warm ls -lR costs; on EOPNOTSUPP ls stops asking for the whole mount
// (coreutils' getfilecon_cache remembers it per device). An object that
// has a label still shows it, and listxattr is unchanged, so cp -a, tar
// and getfattr -d see the same xattrs either way. On a host with SELinux
// enabled the kernel answers security.selinux itself and never asks.
type unlabeled struct {
	fuse.RawFileSystem
}

func (u unlabeled) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	n, st := u.RawFileSystem.GetXAttr(cancel, h, attr, dest)
	if st == fuse.ENOATTR && attr == selinuxXattr {
		return 0, fuse.ENOTSUP
	}
	return n, st
}
