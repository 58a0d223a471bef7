package repo

import (
	"os"

	"golang.org/x/sys/unix"
)

// statForCommit describes a file or directory as a commit into a
// repository of the given mode records it.
func statForCommit(p string, mode Mode) (*FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	fi := &FileInfo{UID: st.Uid, GID: st.Gid, Mode: st.Mode}
	switch st.Mode & sIFMT {
	case sIFLNK:
		t, err := os.Readlink(p)
		if err != nil {
			return nil, err
		}
		fi.Target = t
	case sIFREG:
		fi.Size = uint64(st.Size)
	}
	if mode == ModeBareUserOnly {
		// This mode keeps no xattrs, so they are not part of the
		// object's identity either.
		return fi, nil
	}
	xs, err := listXattrs(p)
	if err != nil {
		return nil, err
	}
	fi.Xattrs = xs
	return fi, nil
}
