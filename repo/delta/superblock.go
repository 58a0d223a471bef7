package delta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
)

// ErrInvalid means delta bytes (superblock, index, part, bytecode) are
// malformed or break a bound; nothing they describe may be used.
var ErrInvalid = errors.New("invalid static delta")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Superblock is a delta's description: the commit it leads to, its parts
// and its fallback objects.
type Superblock struct {
	// Metadata is the superblock's a{sv}: ostree.endianness, the
	// to-commit's detached metadata, inlined parts.
	Metadata  gvariant.Metadata
	Timestamp uint64 // seconds since the epoch
	Name      Name
	// Commit is the to-commit object, whose checksum DecodeSuperblock
	// checked against Name.To.
	Commit    []byte
	Parts     []PartHeader
	Fallbacks []Fallback
	// Swapped: the sizes were written in big-endian order and have been
	// swapped.
	Swapped bool
}

// Object names one object a part produces or a fallback stands for.
type Object struct {
	Type     repo.ObjectType
	Checksum repo.Checksum
}

// PartHeader describes one part.
type PartHeader struct {
	Version  uint32
	Checksum repo.Checksum // SHA-256 of the part file
	Size     uint64        // bytes of the part file
	USize    uint64        // bytes of the objects it produces
	Objects  []Object
}

// Fallback is an object the delta leaves to be fetched on its own.
type Fallback struct {
	Object
	Size, USize uint64
}

const (
	superblockType = "(a{sv}tayay(a{sv}aya(say)sstayay)aya(uayttay)a(yaytt))"
	signedType     = "(taya{sv})"
	signedMagic    = 0x4F535453474E4454 // "OSTSGNDT"
	// maxPartVersion is the newest part format this package reads.
	maxPartVersion = 0
)

// IsSigned reports whether a superblock file is a signed one (OSTSGNDT).
func IsSigned(data []byte) bool {
	return len(data) >= 8 && binary.BigEndian.Uint64(data) == signedMagic
}

// Signatures are a signed superblock's signatures, by key (such as
// ostree.sign.ed25519).
type Signatures gvariant.Metadata

// Get returns the signatures stored under key (an aay); none is not an
// error.
func (s Signatures) Get(key string) ([][]byte, error) {
	v, ok := gvariant.Metadata(s).Lookup(key)
	if !ok {
		return nil, nil
	}
	if v.Type != "aay" {
		return nil, invalidf("signatures %s of type %s, want aay", key, v.Type)
	}
	val, err := v.Value()
	if err != nil {
		return nil, invalidf("signatures %s: %v", key, err)
	}
	out := make([][]byte, len(val.Elems))
	for i, e := range val.Elems {
		out[i] = e.Bytes
	}
	return out, nil
}

// DecodeSigned splits a signed superblock file into the superblock's bytes
// and the signatures over them.
func DecodeSigned(data []byte) (superblock []byte, sigs Signatures, err error) {
	if !IsSigned(data) {
		return nil, nil, invalidf("signed superblock without the OSTSGNDT magic")
	}
	v, err := gvariant.Decode(signedType, data)
	if err != nil {
		return nil, nil, invalidf("signed superblock: %v", err)
	}
	md, err := gvariant.DecodeMetadata(gvariant.Encode(v.Elems[2]))
	if err != nil {
		return nil, nil, invalidf("signed superblock signatures: %v", err)
	}
	return v.Elems[1].Bytes, Signatures(md), nil
}

// DecodeSuperblock decodes a superblock (not a signed wrapper: see
// DecodeSigned). It checks the structure, the checksums' lengths, the
// commit against Name.To, the part versions, and that every object name
// is well formed.
func DecodeSuperblock(data []byte) (*Superblock, error) {
	if IsSigned(data) {
		return nil, invalidf("superblock is signed; unwrap it first")
	}
	v, err := gvariant.Decode(superblockType, data)
	if err != nil {
		return nil, invalidf("superblock: %v", err)
	}
	e := v.Elems
	sb := &Superblock{Timestamp: bits.ReverseBytes64(e[1].Num)}
	if sb.Metadata, err = gvariant.DecodeMetadata(gvariant.Encode(e[0])); err != nil {
		return nil, invalidf("superblock metadata: %v", err)
	}
	if sb.Name, err = superblockName(e[2].Bytes, e[3].Bytes); err != nil {
		return nil, err
	}
	sb.Commit = gvariant.Encode(e[4])
	if _, err := repo.CheckMetadata(repo.ObjCommit, sb.Commit, &sb.Name.To); err != nil {
		return nil, invalidf("superblock commit: %v", err)
	}
	if len(e[5].Bytes) != 0 {
		return nil, invalidf("superblock names %d bytes of prerequisite deltas; none are supported", len(e[5].Bytes))
	}
	sb.Swapped = needsSwap(sb.Metadata, e[6].Elems)
	for i, h := range e[6].Elems {
		ph, err := partHeader(h, sb.Swapped)
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", i, err)
		}
		sb.Parts = append(sb.Parts, ph)
	}
	for i, f := range e[7].Elems {
		fb := Fallback{Size: swap64(sb.Swapped, f.Elems[2].Num), USize: swap64(sb.Swapped, f.Elems[3].Num)}
		if fb.Object, err = object(byte(f.Elems[0].Num), f.Elems[1].Bytes); err != nil {
			return nil, fmt.Errorf("fallback %d: %w", i, err)
		}
		sb.Fallbacks = append(sb.Fallbacks, fb)
	}
	return sb, nil
}

func superblockName(from, to []byte) (Name, error) {
	var n Name
	if len(to) != len(n.To) || len(from) != 0 && len(from) != len(n.From) {
		return n, invalidf("superblock from/to checksums of %d and %d bytes", len(from), len(to))
	}
	copy(n.To[:], to)
	n.Scratch = len(from) == 0
	copy(n.From[:], from)
	return n, nil
}

func partHeader(h gvariant.Value, swapped bool) (PartHeader, error) {
	ph := PartHeader{
		Version: swap32(swapped, uint32(h.Elems[0].Num)),
		Size:    swap64(swapped, h.Elems[2].Num),
		USize:   swap64(swapped, h.Elems[3].Num),
	}
	if ph.Version > maxPartVersion {
		return ph, invalidf("part version %d; this reader knows up to %d", ph.Version, maxPartVersion)
	}
	if len(h.Elems[1].Bytes) != len(ph.Checksum) {
		return ph, invalidf("part checksum of %d bytes", len(h.Elems[1].Bytes))
	}
	copy(ph.Checksum[:], h.Elems[1].Bytes)
	var err error
	ph.Objects, err = objectList(h.Elems[4].Bytes)
	return ph, err
}

// objectList decodes an array of (type byte, 32-byte checksum).
func objectList(b []byte) ([]Object, error) {
	const n = 33
	if len(b)%n != 0 {
		return nil, invalidf("object list of %d bytes, not a multiple of %d", len(b), n)
	}
	out := make([]Object, 0, len(b)/n)
	for i := 0; i < len(b); i += n {
		o, err := object(b[i], b[i+1:i+n])
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func object(t byte, sum []byte) (Object, error) {
	var o Object
	if t < byte(repo.ObjFile) || t > byte(repo.ObjCommitMeta) {
		return o, invalidf("object type %d", t)
	}
	if len(sum) != len(o.Checksum) {
		return o, invalidf("object checksum of %d bytes", len(sum))
	}
	o.Type = repo.ObjectType(t)
	copy(o.Checksum[:], sum)
	return o, nil
}

// needsSwap tells whether the sizes were written big-endian: from
// ostree.endianness when present, else by ostree's own guess (a part much
// bigger compressed than not, or objects averaging over 4 GiB, means
// swapped).
func needsSwap(m gvariant.Metadata, headers []gvariant.Value) bool {
	if v, ok := m.Lookup("ostree.endianness"); ok && v.Type == "y" && len(v.Data) == 1 {
		return v.Data[0] == 'B'
	}
	var total, objects uint64
	for _, h := range headers {
		size, usize := h.Elems[2].Num, h.Elems[3].Num
		total += size
		objects += uint64(len(h.Elems[4].Bytes) / 33)
		if size > usize && float64(size)/float64(usize) > 1.2 {
			return true
		}
	}
	return objects > 0 && total/objects > 1<<32-1
}

func swap64(swap bool, v uint64) uint64 {
	if swap {
		return bits.ReverseBytes64(v)
	}
	return v
}

func swap32(swap bool, v uint32) uint32 {
	if swap {
		return bits.ReverseBytes32(v)
	}
	return v
}

// CommitMeta returns the to-commit's detached metadata the superblock
// carries, or nil.
func (sb *Superblock) CommitMeta() []byte {
	v, ok := sb.Metadata.Lookup(sb.Name.commitMetaKey())
	if !ok || v.Type != "a{sv}" {
		return nil
	}
	return bytes.Clone(v.Data)
}

// InlinePart returns part i's file when the superblock carries it inline
// (ostree's inline-parts), or nil.
func (sb *Superblock) InlinePart(i int) []byte {
	v, ok := sb.Metadata.Lookup(sb.Name.PartPath(i))
	if !ok || v.Type != "(yay)" {
		return nil
	}
	return v.Data
}

// Size is what fetching the delta would transfer, parts and fallbacks,
// and what it would write, as the superblock declares.
func (sb *Superblock) Size() (size, usize uint64) {
	for _, p := range sb.Parts {
		size += p.Size
		usize += p.USize
	}
	for _, f := range sb.Fallbacks {
		size += f.Size
		usize += f.USize
	}
	return size, usize
}
