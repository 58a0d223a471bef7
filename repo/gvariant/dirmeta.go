package gvariant

import (
	"bytes"
	"encoding/binary"
)

// DirMeta is a dirmeta object, (uuua(ayay)): a directory's owner, mode
// (including S_IFDIR) and extended attributes.
type DirMeta struct {
	UID, GID, Mode uint32
	Xattrs         []Xattr
}

// DecodeDirMeta decodes a dirmeta object. The same shape is the bare-user
// "user.ostreemeta" xattr of a content object.
func DecodeDirMeta(data []byte) (DirMeta, error) {
	if len(data) < 12 {
		return DirMeta{}, invalidf("dirmeta of %d bytes", len(data))
	}
	xs, err := decodeXattrs(data[12:])
	if err != nil {
		return DirMeta{}, err
	}
	m := DirMeta{
		UID:    binary.BigEndian.Uint32(data[0:]),
		GID:    binary.BigEndian.Uint32(data[4:]),
		Mode:   binary.BigEndian.Uint32(data[8:]),
		Xattrs: xs,
	}
	if !bytes.Equal(EncodeDirMeta(m), data) {
		return DirMeta{}, invalidf("dirmeta not in normal form")
	}
	return m, nil
}

// EncodeDirMeta serialises m.
func EncodeDirMeta(m DirMeta) []byte {
	var e encoder
	e.u32be(m.UID)
	e.u32be(m.GID)
	e.u32be(m.Mode)
	e.xattrs(m.Xattrs)
	return e.buf
}
