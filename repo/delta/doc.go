// Package delta reads OSTree static deltas: superblocks, delta indexes and
// parts, and runs a part's bytecode to produce the objects it carries.
//
// Notes on the format, taken from ostree's sources
// (src/libostree/ostree-repo-static-delta-*.c and -private.h,
// ostree-repo-pull.c) and checked against deltas that `ostree static-delta
// generate` (2022.7) wrote:
//
// Paths. Checksums in delta paths are "modified base64": standard base64 of
// the 32 raw bytes, no padding, '/' written '_'. A delta from F to T lives
// in deltas/F[0:2]/F[2:]-T/ and a scratch delta (from nothing) to T in
// deltas/T[0:2]/T[2:]/; each holds "superblock" and the parts "0", "1", ….
// delta-indexes/T[0:2]/T[2:].index is an a{sv} whose ostree.static-deltas
// entry maps delta names ("FROMHEX-TOHEX" or "TOHEX") to the SHA-256 of
// their superblock file, as the summary's own ostree.static-deltas does.
//
// Superblock: (a{sv}tayay(commit)aya(uayttay)a(yaytt)):
// metadata; timestamp (big-endian); from (empty for scratch); to; the
// to-commit object itself; an always empty array of prerequisite deltas;
// the part headers; the fallbacks. The metadata carries ostree.endianness
// (y: 'l' or 'B'), the byte order of every u and t in the part headers and
// fallbacks (the writer's host order, a historical mistake); without it,
// ostree guesses, and so does DecodeSuperblock. It may carry the to-commit's
// detached metadata under "deltas/…/commitmeta" and inlined parts under
// their path. A signed superblock file is (taya{sv}): the magic "OSTSGNDT"
// as a big-endian t, the superblock's bytes, and a{sv} of signatures over
// them (ostree.sign.ed25519: aay).
//
// Part header (uayttay): version (0), SHA-256 of the part file, the part
// file's size, the uncompressed size of the objects it produces, and the
// objects, each one type byte followed by 32 checksum bytes, in the order
// the bytecode produces them. Fallback (yaytt): an object (content only, in
// practice) to fetch by itself, with its compressed and uncompressed size.
//
// Part file: one compression byte (0: none, 'x': xz), then the payload
// (a(uuu)aa(ayay)ayay): modes (uid, gid, mode, each big-endian),
// xattr lists, a data blob and the bytecode. The header's checksum covers
// the whole file, compression byte included.
//
// Bytecode: a one-byte opcode then varint (LEB128, at most 10 bytes)
// arguments. Objects are produced in header order; an "open" takes the next
// object name.
//
//	'S' open-splice-and-close: metadata: length, offset into the blob;
//	    content: mode index, xattr index, size, offset into the blob
//	    (a symlink's target is those bytes).
//	'o' open: mode index, xattr index, size: starts a regular file.
//	'w' write: size, offset: from the read source if one is set, else the
//	    blob, appended to the open file.
//	'r' set-read-source: offset of a 32-byte checksum in the blob: a
//	    content object of the repository whose payload later writes read.
//	'R' unset-read-source.
//	'c' close: finishes the open file, which must match its checksum.
//	'B' bspatch: offset, length of a patch in the blob, applied to the read
//	    source to produce the whole open file. The patch is a raw bsdiff 4
//	    stream without header (Colin Percival's format as Matthew Endsley's
//	    library writes it): repeated control triples of 8-byte sign-magnitude
//	    little-endian integers (x, y, z), then x bytes added to the old file
//	    at the current old position, then y bytes copied, then the old
//	    position moves by z.
//
// Generation (ostree-repo-static-delta-compilation.c, -analysis.c): the
// objects are those the to-commit reaches (traversal depth 0) minus those
// the from-commit reaches, the to-commit itself excepted (it is in the
// superblock). ostree packs new dirtrees and dirmetas first, then files
// sent by rollsum ('w' ops from an old file when at least half of its
// rolling-checksum chunks match), then bsdiff patches, then the other
// regular files, then symlinks. A new regular file is "modified" when a
// file of the from-commit with the same basename (or, failing that, the
// same part before the first dot) has a size within 30 %; empty files and
// names ending .xz or .bz2 never are; the old file must be world-readable.
// bsdiff is used when both sizes together are at most max-bsdiff-size
// (128 MB); regular files larger than min-fallback-size (4 MB) become
// fallbacks (0 disables them); a part is closed when adding an object
// would take it past max-chunk-size (32 MB; ostree's megabytes are
// 1000×1000 bytes). Parts are xz (liblzma preset 8, CRC64) and ostree
// decodes them as a single xz stream (not concatenated streams). A part
// header's usize sums the objects' payload sizes. The superblock's
// metadata holds ostree.endianness, then inline parts under their path as
// (yay), then the detached metadata. ostree 2022.7 cannot apply a bsdiff
// part into an archive repository (it aborts in
// _ostree_repo_load_file_bare).
//
// Summaries (ostree-repo.c regenerate_metadata): ostree.static-deltas maps
// every delta name to its superblock's SHA-256 (as ay) unless
// core.no-deltas-in-summary, ostree.summary.indexed-deltas is true, and
// ostree_repo_static_delta_reindex rewrites delta-indexes/, removing
// indexes of commits no delta leads to.
//
// This package generates without rollsum (a patch covers that case), and
// makes bsdiff-format patches with a hash index instead of a suffix sort
// (see diff.go).
//
// Every bound is checked here: an op may not read outside the blob or the
// read source, write past the size its object declared, or produce an
// object that is not the next in the header; a part decompresses to at most
// a bound derived from its header; anything else is ErrInvalid. The xz
// decoder allocates the LZMA2 dictionary a block header declares (up to
// 4 GiB) before it decodes anything, and ostree's own decoder sets no
// memory limit (lzma_stream_decoder with G_MAXUINT64): ReadPart follows the
// xz framing as the bytes pass (xzguard.go) and refuses a block declaring
// more than MaxDictSize.
//
// Read sources are not verified (ostree does not either): a part's output
// is, as it is written, so a corrupt source fails the object it feeds.
package delta
