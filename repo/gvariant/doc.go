// Package gvariant encodes and decodes the GVariant serialisation format in
// the shapes OSTree stores on disk: commits, dirtrees, dirmetas, file
// headers, metadata dictionaries and summaries.
//
// Decoding is strict: a value is accepted only in GVariant normal form, which
// is checked by re-encoding it and comparing the bytes, so a checksum over
// accepted bytes always means the same value. Decoders never panic and never
// allocate more than a small multiple of their input, whatever the input.
// Integers that OSTree defines are big-endian on disk; the typed decoders
// return them in native form. Framing offsets are little-endian.
package gvariant
