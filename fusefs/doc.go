// Package fusefs owns the read-only FUSE view of a repository:
//
//	refs/heads/<ref…>                 symlink → ../../commits/<sha>
//	refs/remotes/<remote>/<ref…>      symlink → ../../../commits/<sha>
//	refs/mirrors/<collection>/<ref…>  symlink → ../../../commits/<sha>
//	commits/<sha>/                    the tree of that commit
//
// The view is built from objects/ and refs/ only; nothing under tmp/ is
// ever opened, and a commit marked partial is not shown. commits/ is
// immutable, so the kernel may cache it for long; the repository reports
// every ref change (repo.WatchRefs), whoever made it, and the kernel's
// entries are invalidated as soon as a ref moves. The watch is lazy: a
// directory of refs/ is read (and watched) the first time the kernel asks
// what is in it (refs.go, repo.RefLoader), so a mount of a mirror's
// hundred thousand refs serves at once and holds only what was walked or
// listed. Listing a directory reads the directories two levels below it
// ahead of the walk that usually follows (readAhead, in batches through
// repo.RefLoader.LoadAll), so a find does not wait in each lookup for a
// directory to be read; a lookup that comes first reads it itself.
// refs/ is served at the level of FUSE requests (rawRefs, in front of
// go-fuse's node tree, which serves the rest), with node IDs from a
// compact table of its own (refNodes): the kernel's walk of a mirror's
// refs costs the mount a few dozen bytes for each directory the kernel
// holds, not a go-fuse Inode for each entry. The listing of commits/ comes from an index the repository keeps current
// from notifications (repo.CommitIndex.Watch): a commit that comes, is
// marked partial or is pruned changes it, and an idle mount does no work
// for it.
//
// The mount reads /dev/fuse with a loop of its own (serve.go) rather
// than go-fuse's, which keeps several readers and so moves consecutive
// requests between threads: one reader answers what it can at once (a
// walk of refs/ read already) and hands the rest to workers; go-fuse
// still mounts, negotiates INIT, decodes (fuse.ProtocolServer) and
// notifies.
//
// Round trips to the daemon are the cost that matters, so files and
// directories are served without handles: the first OPEN, OPENDIR and
// FLUSH answer ENOSYS and the kernel never sends them again, caching file
// pages and listings across opens (file.go, opendir.go). What remains per
// file is the lookup (folded into READDIRPLUS), one READ the first time,
// and getxattr, which FUSE never caches: none for SELinux labels and
// POSIX ACLs of objects without them after the first
// (xattrs_unsupported.go), except that with AllowOther the kernel enforces
// ACLs and asks each file's once (MountOptions.NoXattrs hides all).
// stats.go counts the requests. Cold, what remains is the disk: listings
// read their objects, and those of the directories below, concurrently
// (warm.go, descend.go).
//
// Reads go through one strategy per repository mode, chosen once in New
// (reader, file.go): bare modes read the object files and ask the disk
// ahead (read_bare.go); archive inflates through its content cache
// (internal/inflatecache), ahead of the reader and into the kernel's page
// cache (read_archive.go, readahead_archive.go). readahead.go holds what
// both strategies' read-ahead shares. Both verify an object against its
// checksum before any of its bytes reach a reader, once per object per
// mount (bare: verify.go; archive: as it inflates); a corrupted object is
// EIO, so nothing of it enters the page cache, and is checked again at
// the next read, so a repaired object reads right at once.
//
// A mountpoint that is already a mount, or not empty (unless
// MountOptions.NonEmpty), is refused (mountpoint.go). STATFS of any node
// answers with the repository's file system (statfs.go).
package fusefs
