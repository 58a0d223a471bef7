package fusefs

import (
	"slices"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// selinuxXattr is the name SELinux (and ls -l, through libselinux) reads
// a file's security label from.
const selinuxXattr = "security.selinux"

// aclXattrs are the names the POSIX ACLs are read from (ls -l asks every
// file for the first, every directory for both).
var aclXattrs = []string{"system.posix_acl_access", "system.posix_acl_default"}

// unsupported answers a getxattr of one of names on an object that has no
// such xattr with EOPNOTSUPP ("this file system has none of these") rather
// than ENODATA. ls -l asks every file for its label and its ACL, and FUSE
// caches no xattrs, so each ask is a round trip to the daemon, more than
// the rest of an ls -lR costs; on EOPNOTSUPP ls stops asking for the whole
// mount (coreutils' getfilecon_cache and file_has_acl_cache remember it per
// device). An object that has one of them still shows it, and listxattr is
// unchanged, so cp -a, tar and getfattr -d see the same xattrs either way.
// On a host with SELinux enabled the kernel answers security.selinux
// itself and never asks. The ACL names are included only where the kernel
// does not enforce ACLs (see Mount): there it also fetches them for its
// own permission checks, which must see ENODATA, not an error.
type unsupported struct {
	fuse.RawFileSystem
	names []string
}

func (u unsupported) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	n, st := u.RawFileSystem.GetXAttr(cancel, h, attr, dest)
	if st == fuse.ENOATTR && slices.Contains(u.names, attr) {
		return 0, fuse.ENOTSUP
	}
	return n, st
}
