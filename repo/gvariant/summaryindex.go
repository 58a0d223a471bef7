package gvariant

import "bytes"

// SummaryIndex is Flatpak's summary index (summary.idx),
// (a{s(ayaaya{sv})}a{sv}): for each subsummary its name, the SHA-256 of
// its uncompressed bytes, the digests of its previous versions, and its
// metadata; then the index's own metadata.
type SummaryIndex struct {
	Subsummaries []Subsummary
	Metadata     Metadata
}

// Subsummary is one entry of a summary index.
type Subsummary struct {
	Name     string
	Checksum []byte
	History  [][]byte
	Metadata Metadata
}

var (
	dictEntryMembers  = []member{{1, 0}, {8, 0}}
	subsummaryMembers = []member{{1, 0}, {1, 0}, {8, 0}}
)

// DecodeSummaryIndex decodes a summary.idx file.
func DecodeSummaryIndex(data []byte) (SummaryIndex, error) {
	var s SummaryIndex
	var top [2][]byte
	if err := splitTuple(data, summaryMembers, top[:]); err != nil {
		return s, err
	}
	var kv [2][]byte
	var parts [3][]byte
	err := splitArray(top[0], 8, func(_ int, elem []byte) error {
		if err := splitTuple(elem, dictEntryMembers, kv[:]); err != nil {
			return err
		}
		name, err := decodeString(kv[0])
		if err != nil {
			return err
		}
		if err := splitTuple(kv[1], subsummaryMembers, parts[:]); err != nil {
			return err
		}
		sub := Subsummary{Name: name, Checksum: parts[0]}
		err = splitArray(parts[1], 1, func(_ int, h []byte) error {
			sub.History = append(sub.History, h)
			return nil
		})
		if err != nil {
			return err
		}
		if sub.Metadata, err = decodeMetadata(parts[2]); err != nil {
			return err
		}
		s.Subsummaries = append(s.Subsummaries, sub)
		return nil
	})
	if err != nil {
		return SummaryIndex{}, err
	}
	if s.Metadata, err = decodeMetadata(top[1]); err != nil {
		return SummaryIndex{}, err
	}
	if !bytes.Equal(EncodeSummaryIndex(s), data) {
		return SummaryIndex{}, invalidf("summary index not in normal form")
	}
	return s, nil
}

// EncodeSummaryIndex serialises s.
func EncodeSummaryIndex(s SummaryIndex) []byte {
	var e encoder
	var offs []int
	for _, sub := range s.Subsummaries {
		e.pad(8)
		es := len(e.buf)
		e.str(sub.Name)
		keyEnd := []int{len(e.buf) - es}
		e.pad(8)
		ts := len(e.buf)
		e.buf = append(e.buf, sub.Checksum...)
		csEnd := len(e.buf) - ts
		hs := len(e.buf)
		var hoffs []int
		for _, h := range sub.History {
			e.buf = append(e.buf, h...)
			hoffs = e.mark(hs, hoffs)
		}
		e.frame(hs, hoffs, false)
		histEnd := len(e.buf) - ts
		e.metadata(sub.Metadata)
		e.frame(ts, []int{csEnd, histEnd}, true)
		e.frame(es, keyEnd, true)
		offs = e.mark(0, offs)
	}
	e.frame(0, offs, false)
	top := []int{len(e.buf)}
	e.metadata(s.Metadata)
	e.frame(0, top, true)
	return e.buf
}
