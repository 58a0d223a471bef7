// Package xzdec decodes xz files held whole in memory: the .xz container
// with LZMA2 blocks, as ostree's static delta parts are written (by
// liblzma or by repofs through github.com/ulikunitz/xz). It is written from
// the public format descriptions (the .xz file format specification and
// the LZMA specification) and exists for speed: the whole file and the
// whole output are in memory, so the output buffer is the LZMA
// dictionary (no circular buffer, no copy out of it) and the range
// decoder reads a byte slice; the stream's index, read first, sizes the
// output exactly and lets its blocks decode on several cores at once.
//
// Only what delta parts use is accepted: streams of LZMA2 blocks (no
// other filter), checks none, CRC32 or CRC64; concatenated streams and
// stream padding. Anything else (BCJ or delta filters, SHA-256 or
// reserved checks, LZMA1 end markers, a dictionary over the caller's
// bound) is refused with an error saying so. Every size, the index, the
// checks and the CRC32s of the headers are verified: corrupt or hostile
// input fails with ErrCorrupt or ErrUnsupported, and never makes the
// decoder allocate more than the index declares (each block counted
// as 1 KiB at least), which the caller bounds.
package xzdec
