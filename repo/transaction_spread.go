package repo

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// fsTopdirFl is FS_TOPDIR_FL (chattr +T), which x/sys/unix does not name.
const fsTopdirFl = 0x00020000

// spreadStaging marks a new staging directory, open as fd, as the top of
// a directory hierarchy for ext4's Orlov allocator (chattr +T). Its
// objects/XX subdirectories, and so the inodes of the objects staged in
// them, then go to the emptiest block groups instead of the group of
// tmp/. That matters because ext4 without a journal allocates an inode
// only after looking, one buffer lookup each, at every inode of the group
// freed in the last minute or so: next to recent mass deletions (a
// removed checkout, a prune, other work in the same directory tree),
// creating each staged object walked thousands of freed inodes. The flag
// is not inherited: the objects/XX directories published from staging do
// not carry it, and the staging directory goes once committed. The cost
// is locality: objects/XX lie in different block groups. Where the flag
// is not supported (another filesystem), nothing changes.
func spreadStaging(fd int) {
	var flags uint32
	if ioctlFlags(fd, unix.FS_IOC_GETFLAGS, &flags) != nil || flags&fsTopdirFl != 0 {
		return
	}
	flags |= fsTopdirFl
	ioctlFlags(fd, unix.FS_IOC_SETFLAGS, &flags)
}

// ioctlFlags is the FS_IOC_GETFLAGS or FS_IOC_SETFLAGS ioctl; the kernel
// reads and writes an int, whatever the request's encoded size says.
func ioctlFlags(fd int, req uint, flags *uint32) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(flags)))
	if e != 0 {
		return e
	}
	return nil
}
