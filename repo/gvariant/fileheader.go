package gvariant

import (
	"bytes"
	"encoding/binary"
)

// FileHeader is the metadata of a content object: (uuuusa(ayay)) in the
// checksummed stream, (tuuuusa(ayay)) with the uncompressed Size first in an
// archive ".filez" object.
type FileHeader struct {
	Size           uint64 // archive header only
	UID, GID, Mode uint32
	Rdev           uint32
	Target         string // symlink target, "" for regular files
	Xattrs         []Xattr
}

// DecodeFileHeader decodes the (uuuusa(ayay)) header variant.
func DecodeFileHeader(data []byte) (FileHeader, error) {
	return decodeFileHeader(data, false)
}

// DecodeArchiveHeader decodes the (tuuuusa(ayay)) header variant of a
// ".filez" object.
func DecodeArchiveHeader(data []byte) (FileHeader, error) {
	return decodeFileHeader(data, true)
}

var (
	fileHeaderMembers    = []member{{4, 4}, {4, 4}, {4, 4}, {4, 4}, {1, 0}, {1, 0}}
	archiveHeaderMembers = append([]member{{8, 8}}, fileHeaderMembers...)
)

func decodeFileHeader(data []byte, archive bool) (FileHeader, error) {
	var h FileHeader
	var p [7][]byte
	ms, parts := fileHeaderMembers, p[:6]
	if archive {
		ms, parts = archiveHeaderMembers, p[:7]
	}
	if err := splitTuple(data, ms, parts); err != nil {
		return h, err
	}
	if archive {
		h.Size = binary.BigEndian.Uint64(parts[0])
		parts = parts[1:]
	}
	h.UID = binary.BigEndian.Uint32(parts[0])
	h.GID = binary.BigEndian.Uint32(parts[1])
	h.Mode = binary.BigEndian.Uint32(parts[2])
	h.Rdev = binary.BigEndian.Uint32(parts[3])
	var err error
	if h.Target, err = decodeString(parts[4]); err != nil {
		return FileHeader{}, err
	}
	if h.Xattrs, err = decodeXattrs(parts[5]); err != nil {
		return FileHeader{}, err
	}
	if !bytes.Equal(encodeFileHeader(h, archive), data) {
		return FileHeader{}, invalidf("file header not in normal form")
	}
	return h, nil
}

// EncodeFileHeader serialises the (uuuusa(ayay)) form of h.
func EncodeFileHeader(h FileHeader) []byte { return encodeFileHeader(h, false) }

// EncodeArchiveHeader serialises the (tuuuusa(ayay)) form of h.
func EncodeArchiveHeader(h FileHeader) []byte { return encodeFileHeader(h, true) }

func encodeFileHeader(h FileHeader, archive bool) []byte {
	var e encoder
	if archive {
		e.u64be(h.Size)
	}
	e.u32be(h.UID)
	e.u32be(h.GID)
	e.u32be(h.Mode)
	e.u32be(h.Rdev)
	e.str(h.Target)
	offs := []int{len(e.buf)}
	e.xattrs(h.Xattrs)
	e.frame(0, offs, true)
	return e.buf
}
