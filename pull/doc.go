// Package pull owns fetching from OSTree remotes: the [remote "NAME"]
// groups of a repository's config, the HTTP fetcher (retries, Range resume
// of partial downloads kept in a locked repo.FetcherDir), and the pull
// algorithm that walks a commit's objects, fetches the missing ones in
// parallel and writes them through a repo.Transaction, so nothing is
// published unverified and many pulls can run into one repository at once.
//
// # Where a pull's time goes
//
// A pull of many small objects over loopback is CPU-bound, and its CPU
// (perf, Go toolchain tree into bare-user) goes to three things, none of
// them waste: the kernel's work per staged object, the largest (allocating
// the O_TMPFILE inode, the buffered write, linkat into the staging
// directory, fsetxattr and futimens in bare-user); inflating and hashing
// each object (klauspost flate, SHA-NI sha256); and one HTTP request per
// object (net/http, loopback TCP). A server on the same machine competes
// for the same cores. The commit itself (syncfs, renames, syncfs) is a
// small part. What is left to cut is per request and per object: fewer
// requests (static deltas), or fewer syscalls per object.
//
// On ext4 without a journal, inode allocation steps over every free inode
// of the block group deleted in the last minutes, one buffer lookup each:
// right after a mass deletion near the repository (a removed checkout or
// repository, a prune), allocating the staged objects' inodes can cost as
// much as everything else a pull does, for ostree as for repofs. Benchmarks
// that delete trees between runs measure that as much as the pull.
package pull
