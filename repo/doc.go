// Package repo reads and writes OSTree repositories in OSTree's own on-disk
// format.
//
// A repository is a content-addressed store of objects named by SHA-256:
//
//   - a commit names a root dirtree and dirmeta, a parent commit, a subject,
//     body, timestamp and metadata;
//   - a dirtree lists a directory's files (name → content object) and
//     subdirectories (name → dirtree + dirmeta);
//   - a dirmeta holds a directory's owner, mode and extended attributes;
//   - a content object ("file") holds one regular file or symlink with its
//     owner, mode and extended attributes, represented according to the
//     repository's mode (archive, bare, bare-user, bare-user-only);
//   - a commitmeta holds a commit's detached metadata (signatures).
//
// Refs under refs/ name commits. Everything read is verified against its
// checksum before it is trusted, and names from dirtrees are validated so
// that no object can point outside the tree it belongs to.
//
// The package is Linux-only as a whole (O_TMPFILE staging, syncfs,
// fadvise, Linux xattrs), so its files carry no _linux suffix.
package repo
