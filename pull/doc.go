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
// (perf, Go toolchain tree into bare-user) goes to three things: the
// kernel's work per staged object, the largest (copying the payload into
// the page cache, allocating the O_TMPFILE inode, linkat into the staging
// directory, fsetxattr and futimens in bare-user); inflating and hashing
// each object (internal/inflate, SHA-NI sha256); and one HTTP request per
// object over loopback TCP. A body of up to smallBody bytes is fetched into
// memory and staged from there whole (repo.Transaction.WriteArchiveBytes:
// decoded in one go, written with one write); a larger one goes through
// its partial file, read back whole, or mapped when over maxWholeFile, so
// that the few large objects, which come last, are decoded by
// internal/inflate too. Plain http:// GETs without credentials are made
// by the goroutine that asks (connTransport), without http.Client:
// net/http's Transport hands every request and response between
// goroutines, which cost more than the requests. While many objects are
// queued, a worker takes pipelineDepth of them and writes their requests
// at once on one connection (HTTP/1.1 pipelining, fetchPipelined): one
// write and one wakeup of the server for them all, where each request's
// own round trip cost the client a loopback send and the server a read
// and a sleep in its poller. A response that is not a plain 200 (or a
// redirect, followed), a connection the server closes, a body cut off,
// ends the pipeline: the objects it did not bring are fetched one by one,
// the first resuming what the pipeline wrote of it; a server that leaves
// a pipelined request unanswered is sent no more pipelines, nor is a
// remote with http-pipelining=false. The last
// objects go one per worker, so that the large ones are decoded in
// parallel. Directories queued beyond pipelineDepth go pipelineDepth at a
// time too, their dirtrees fetched together (walkDirs). A
// server on the same machine competes for the same cores. The
// commit itself (syncfs, renames, syncfs) is a small part. What is left
// to cut is per request and per object: fewer requests (static deltas),
// a faster inflate, or fewer syscalls per object.
//
// On ext4 without a journal, inode allocation steps over every free inode
// of the block group deleted in the last minutes, one buffer lookup each:
// right after a mass deletion near the repository (a removed checkout or
// repository, a prune), allocating the staged objects' inodes can cost as
// much as everything else a pull does, for ostree as for repofs. Benchmarks
// that delete trees between runs measure that as much as the pull.
package pull
