package repo

import (
	"encoding/hex"
	"fmt"
)

// Checksum is the SHA-256 that names an object.
type Checksum [32]byte

// String returns the 64 lowercase hex digits of c.
func (c Checksum) String() string { return hex.EncodeToString(c[:]) }

// ParseChecksum parses 64 hex digits.
func ParseChecksum(s string) (Checksum, error) {
	var c Checksum
	if !IsChecksum(s) {
		return c, fmt.Errorf("invalid checksum %q", s)
	}
	hex.Decode(c[:], []byte(s))
	return c, nil
}

// IsChecksum reports whether s is 64 lowercase hex digits.
func IsChecksum(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerHex(s[i]) {
			return false
		}
	}
	return true
}

func isLowerHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

func checksumFromBytes(b []byte) (Checksum, bool) {
	var c Checksum
	if len(b) != len(c) {
		return c, false
	}
	copy(c[:], b)
	return c, true
}

// ObjectType is the kind of an object, numbered as in OSTree.
type ObjectType int

// Object types.
const (
	ObjFile       ObjectType = 1
	ObjDirTree    ObjectType = 2
	ObjDirMeta    ObjectType = 3
	ObjCommit     ObjectType = 4
	ObjTombstone  ObjectType = 5
	ObjCommitMeta ObjectType = 6
)

// Ext returns the file extension of objects of type t; content objects are
// "file" here, "filez" in archive repositories (see Repo.objectPath).
func (t ObjectType) Ext() string {
	switch t {
	case ObjFile:
		return "file"
	case ObjDirTree:
		return "dirtree"
	case ObjDirMeta:
		return "dirmeta"
	case ObjCommit:
		return "commit"
	case ObjTombstone:
		return "tombstone-commit"
	case ObjCommitMeta:
		return "commitmeta"
	}
	return fmt.Sprintf("type%d", int(t))
}
