// Package tmpdir owns the directories under a repository's tmp/: it
// allocates them under an exclusive lock held on a sibling "<dir>-lock"
// file, reuses a directory an earlier, interrupted process left unlocked,
// and expires abandoned ones.
//
// This is the scheme libostree adopted for OSTree bug 757611 ("concurrent
// pulls can break due to shared tmp/"), and it is bit-compatible with it:
// the locks are open-file-description locks (F_OFD_SETLK), falling back to
// flock(2) where the kernel answers EINVAL, so repofs and the real ostree
// exclude each other from the same directories. The lock file lives outside
// its directory so it can be held while the directory is deleted.
package tmpdir
