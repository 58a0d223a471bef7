package gvariant

import (
	"bytes"
	"encoding/binary"
)

// Commit is a commit object, (a{sv}aya(say)sstayay).
type Commit struct {
	Metadata  Metadata
	Parent    []byte // empty, or the parent's 32-byte checksum
	Related   []TreeFile
	Subject   string
	Body      string
	Timestamp uint64 // seconds since the epoch, UTC
	RootTree  []byte
	RootMeta  []byte
}

var commitMembers = []member{
	{8, 0}, // metadata a{sv}
	{1, 0}, // parent ay
	{1, 0}, // related a(say)
	{1, 0}, // subject s
	{1, 0}, // body s
	{8, 8}, // timestamp t
	{1, 0}, // root dirtree ay
	{1, 0}, // root dirmeta ay
}

// DecodeCommit decodes a commit object.
func DecodeCommit(data []byte) (Commit, error) {
	var c Commit
	var p [8][]byte
	if err := splitTuple(data, commitMembers, p[:]); err != nil {
		return c, err
	}
	var err error
	if c.Metadata, err = decodeMetadata(p[0]); err != nil {
		return Commit{}, err
	}
	c.Parent = p[1]
	var rp [2][]byte
	err = splitArray(p[2], 1, func(_ int, elem []byte) error {
		if err := splitTuple(elem, fileMembers, rp[:]); err != nil {
			return err
		}
		name, err := decodeString(rp[0])
		c.Related = append(c.Related, TreeFile{name, rp[1]})
		return err
	})
	if err != nil {
		return Commit{}, err
	}
	if c.Subject, err = decodeString(p[3]); err != nil {
		return Commit{}, err
	}
	if c.Body, err = decodeString(p[4]); err != nil {
		return Commit{}, err
	}
	c.Timestamp = binary.BigEndian.Uint64(p[5])
	c.RootTree, c.RootMeta = p[6], p[7]
	if !bytes.Equal(EncodeCommit(c), data) {
		return Commit{}, invalidf("commit not in normal form")
	}
	return c, nil
}

// EncodeCommit serialises c.
func EncodeCommit(c Commit) []byte {
	var e encoder
	var offs []int
	e.metadata(c.Metadata)
	offs = e.mark(0, offs)
	e.buf = append(e.buf, c.Parent...)
	offs = e.mark(0, offs)
	start := len(e.buf)
	var roffs []int
	for _, r := range c.Related {
		es := len(e.buf)
		e.str(r.Name)
		nameEnd := []int{len(e.buf) - es}
		e.buf = append(e.buf, r.Checksum...)
		e.frame(es, nameEnd, true)
		roffs = e.mark(start, roffs)
	}
	e.frame(start, roffs, false)
	offs = e.mark(0, offs)
	e.str(c.Subject)
	offs = e.mark(0, offs)
	e.str(c.Body)
	offs = e.mark(0, offs)
	e.u64be(c.Timestamp)
	e.buf = append(e.buf, c.RootTree...)
	offs = e.mark(0, offs)
	e.buf = append(e.buf, c.RootMeta...)
	e.frame(0, offs, true)
	return e.buf
}
