package repo

import (
	"os"

	"golang.org/x/sys/unix"
)

func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// syncfs flushes the whole filesystem that holds f: one call instead of an
// fsync per object, as libostree does at transaction commit.
func syncfs(f *os.File) error { return unix.Syncfs(int(f.Fd())) }

// renameNoReplace renames old to new unless new exists (unix.EEXIST).
func renameNoReplace(oldpath, newpath string) error {
	return unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
}
