package gvariant

import (
	"bytes"
	"encoding/binary"
)

// Summary is a repository summary, (a(s(taya{sv}))a{sv}).
type Summary struct {
	Refs     []SummaryRef // sorted by name
	Metadata Metadata
}

// SummaryRef is one ref of a summary.
type SummaryRef struct {
	Name       string
	CommitSize uint64 // host (little-endian) order on disk: upstream issue #1990
	Checksum   []byte
	Metadata   Metadata
}

var (
	summaryMembers    = []member{{8, 0}, {8, 0}}
	summaryRefMembers = []member{{1, 0}, {8, 0}}
	refInfoMembers    = []member{{8, 8}, {1, 0}, {8, 0}}
)

// DecodeSummary decodes a summary file.
func DecodeSummary(data []byte) (Summary, error) {
	var s Summary
	var top [2][]byte
	if err := splitTuple(data, summaryMembers, top[:]); err != nil {
		return s, err
	}
	var rp [2][]byte
	var ip [3][]byte
	err := splitArray(top[0], 8, func(_ int, elem []byte) error {
		if err := splitTuple(elem, summaryRefMembers, rp[:]); err != nil {
			return err
		}
		name, err := decodeString(rp[0])
		if err != nil {
			return err
		}
		if err := splitTuple(rp[1], refInfoMembers, ip[:]); err != nil {
			return err
		}
		md, err := decodeMetadata(ip[2])
		if err != nil {
			return err
		}
		s.Refs = append(s.Refs, SummaryRef{name, binary.LittleEndian.Uint64(ip[0]), ip[1], md})
		return nil
	})
	if err != nil {
		return Summary{}, err
	}
	if s.Metadata, err = decodeMetadata(top[1]); err != nil {
		return Summary{}, err
	}
	if !bytes.Equal(EncodeSummary(s), data) {
		return Summary{}, invalidf("summary not in normal form")
	}
	return s, nil
}

// EncodeSummary serialises s.
func EncodeSummary(s Summary) []byte {
	var e encoder
	start := 0
	var offs []int
	for _, r := range s.Refs {
		e.pad(8)
		es := len(e.buf)
		e.str(r.Name)
		nameEnd := []int{len(e.buf) - es}
		e.pad(8)
		is := len(e.buf)
		e.buf = binary.LittleEndian.AppendUint64(e.buf, r.CommitSize)
		e.buf = append(e.buf, r.Checksum...)
		csEnd := []int{len(e.buf) - is}
		e.metadata(r.Metadata)
		e.frame(is, csEnd, true)
		e.frame(es, nameEnd, true)
		offs = e.mark(start, offs)
	}
	e.frame(start, offs, false)
	top := []int{len(e.buf)}
	e.metadata(s.Metadata)
	e.frame(0, top, true)
	return e.buf
}
