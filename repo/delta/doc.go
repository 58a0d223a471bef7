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
// names ending .xz or .bz2 never are (details below).
// bsdiff is used when both sizes together are at most max-bsdiff-size
// (128 MB); regular files whose content stream (the u32 header length,
// 4 bytes of padding, the (uuuusa(ayay)) header, then the payload: what
// ostree_repo_load_object_stream measures) is larger than
// min-fallback-size (4 MB) become fallbacks (0 disables them), their
// fallback entry giving the payload's size and the stored object's;
// ostree lists them (and prints "fallback for C (SIZE)", SIZE the
// stream's) in its hash table's order, repofs in the tree's; a part is
// closed when adding an object would take it past max-chunk-size (32 MB;
// ostree's megabytes are 1000×1000 bytes). Parts are xz (liblzma preset 8, CRC64) and ostree
// decodes them as a single xz stream (not concatenated streams). A part
// header's usize sums the objects' payload sizes. The superblock's
// metadata holds ostree.endianness, then inline parts under their path as
// (yay), then the detached metadata. ostree 2022.7 cannot apply a bsdiff
// part into an archive repository (it aborts in
// _ostree_repo_load_file_bare).
//
// Generating, as `ostree static-delta generate` (ot-builtin-static-delta.c,
// ostree_repo_static_delta_generate) takes its options:
//   - --filename=PATH names the superblock file: parts are written beside it
//     in PATH's directory, which must exist ("opendir(DIR): …" otherwise),
//     and nothing goes into deltas/. The help text says PATH is a directory,
//     but 2022.7 then writes the parts into PATH's parent and fails renaming
//     the superblock onto PATH (EISDIR); repofs writes an existing
//     directory's superblock and parts inside it instead. An empty PATH is
//     "Invalid 'filename' parameter". ostree's show reads parts only from
//     deltas/, so it cannot show such a delta (or an inline one) past its
//     header; apply-offline takes the superblock or its directory.
//   - --set-endianness=l|B picks the byte order of the u and t values of
//     the part headers and fallbacks (anything else: "Invalid endianness
//     'X'"), default the host's; --swap-endianness swaps whatever was
//     chosen. ostree.endianness says which; the timestamp is big-endian and
//     the part payloads' modes are big-endian whatever is chosen.
//   - --sign=KEY… (and --keys-file, only when ostree has libsodium) sign
//     with --sign-type (default ed25519): an empty type is "Invalid
//     'sign-name' parameter" (at once); an unknown one "Requested signature
//     type is not implemented" (ostree finds out after writing the parts,
//     when it signs; repofs before). Without keys the type is not looked
//     up. verify and apply-offline fail on an unknown type the same way,
//     verify printing "Sign-type not supported" first. Debian's 2022.7 has
//     no ed25519 at all (every signing operation fails with that message),
//     so signed deltas are checked against repofs alone.
//   - --min-fallback-size, --max-chunk-size, --max-bsdiff-size are read
//     with g_ascii_strtoull (junk is 0, a minus wraps) and cut to 32 bits.
//     Chunk size 0 puts every object in its own part (a part is closed
//     before an object when it is not empty and the object would take it
//     past the limit; before a bsdiff or rollsum object only when it is
//     already past). bsdiff size 0 diffs nothing.
//   - the order of checks: TO given ("TO revision must be specified"),
//     --empty with --from ("Cannot specify both --empty and --from=REV"),
//     resolve --from (default TO^), then --to, --if-not-exists ("Delta X
//     already exists." on stdout, exit 0), --set-endianness; then the three
//     "Generating static delta:" lines, then the rest. An empty rev fails
//     as "Refspec  not unique".
//   - "modified" files: From's and To's regular files are listed with their
//     names and sorted by size; each new file of To (not empty, no name
//     ending .xz/.bz2) takes the first file of From, in size order, whose
//     size is within 30 % (bounds size×0.7 and size×1.3 computed in floating
//     point) and that shares a basename, or, in a second pass, a basename up
//     to its first dot (a dot at the start does not count). That pair is
//     "modified" (the count ostree prints first on stderr); only then is the
//     old file's mode checked: not world-readable, it is sent whole.
//
// Summaries and indexes (ostree-repo.c ostree_repo_regenerate_summary,
// ostree-repo-static-delta-core.c ostree_repo_static_delta_reindex and
// ostree_repo_list_static_delta_indexes):
//   - the summary's a{sv} is built through a GVariantDict, so its order is
//     that of GLib's hash table: inserted are the -m metadata, then
//     ostree.static-deltas (when there are deltas and core.no-deltas-in-summary
//     is not true), ostree.summary.last-modified, ostree.summary.mode (core.mode
//     as the config spells it, "bare" when absent),
//     ostree.summary.tombstone-commits, ostree.summary.indexed-deltas (always
//     true), then collection keys. ostree.static-deltas maps every delta name
//     to the SHA-256 of its superblock file (ay), also through a
//     GVariantDict, inserted in the order deltas/ is read (readdir, two
//     levels).
//   - summary -u then reindexes everything. Reindexing first sets
//     core.indexed-deltas=true in the repository's config (a pull by
//     checksum, which skips the summary, reads it from the remote's config
//     to know delta-indexes/ exists; without it ostree falls back to a
//     delta from the ref's current commit), then, for --to (which must be a
//     checksum: "Invalid rev X" for a wrong length, X cut to 64 bytes,
//     "Invalid character 'N' in rev 'X'" for a byte that is not lower-case
//     hex, checked after the config is written) or for every commit an index
//     exists for or a delta leads to, writes delta-indexes/XX/REST.index:
//     an a{sv} with the one key ostree.static-deltas, a GVariantDict of the
//     deltas to that commit as in the summary; or removes the index when no
//     delta leads there (the directory stays). A file whose bytes would not
//     change is not rewritten. ostree means to insert the deltas sorted by
//     from-commit, but g_ptr_array_sort hands g_strcmp0 pointers to the
//     elements, so it sorts by the bytes of heap addresses: when names
//     collide in the hash table, ostree's order (scratch first, otherwise
//     depending on its allocations) can differ from repofs's (sorted by
//     from-commit); lookups by name are the same.
//   - `static-delta indexes` lists, in readdir order, the regular files of
//     two-character directories of delta-indexes/ named with 41 characters
//     and ".index", as hex checksums, or "(No static deltas indexes)".
//   - ostree pull (ostree-repo-pull.c) uses delta-indexes/ when the summary
//     sets ostree.summary.indexed-deltas, or, not fetching the summary, when
//     the remote's config sets core.indexed-deltas; otherwise the summary's
//     ostree.static-deltas; otherwise, pulling a ref, the delta from the
//     ref's local commit if it exists.
//
// This package generates without ostree's rolling checksum but to the
// same effect: a modified file made of long stretches of its old version
// (at most a quarter of its size in new bytes and ops) is sent as write
// ops from the old file as read source, with the read source unset around
// writes of its new bytes from the blob (ostree's executor reads a write
// from the read source when one is set, else from the blob); other
// modified files go as bsdiff-format patches, made with a hash index
// instead of a suffix sort (see diff.go). Copies keep the part's payload
// to the new bytes, where a patch carries a diff block as long as the
// file: less to decompress and no additions when applying. The verbose
// output counts copied files as ostree counts rollsum ones.
//
// Every bound is checked here: an op may not read outside the blob or the
// read source, write past the size its object declared, or produce an
// object that is not the next in the header; a part decompresses to at most
// a bound derived from its header; anything else is ErrInvalid. A part
// held whole in memory (DecodePart, DecodePartSpill) is decoded by
// internal/xzdec: it sizes the output from the stream's index, checked
// against that bound before anything is allocated, decodes into the
// output itself (no dictionary buffer) and its blocks on every core;
// streams it does not do (other filters, SHA-256 checks) and payloads
// over 64 MiB go to the streaming decoder, ulikunitz/xz. That one
// allocates the LZMA2 dictionary a block header declares (up to 4 GiB)
// before it decodes anything, and ostree's own decoder sets no memory
// limit (lzma_stream_decoder with G_MAXUINT64): ReadPart follows the xz
// framing as the bytes pass (xzguard.go) and refuses a block declaring
// more than MaxDictSize, as xzdec does.
//
// Read sources are not verified (ostree does not either): a part's output
// is, as it is written, so a corrupt source fails the object it feeds.
package delta
