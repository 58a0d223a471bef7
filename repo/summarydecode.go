package repo

import (
	"fmt"
	"time"

	"github.com/repofs/repofs/repo/gvariant"
)

// Summary is a decoded summary file: the refs a repository publishes, each
// with its commit, and the summary's own metadata.
type Summary struct {
	Refs []SummaryRef // sorted by name
	// Metadata holds the summary's keys (ostree.summary.*), in order.
	Metadata gvariant.Metadata
	// StaticDeltas maps the names of the deltas the summary lists
	// ("FROMHEX-TOHEX", or "TOHEX" for a scratch delta) to the SHA-256 of
	// their superblock (ostree.static-deltas); nil when it lists none.
	StaticDeltas map[string]Checksum
	// IndexedDeltas: the remote publishes delta-indexes/
	// (ostree.summary.indexed-deltas).
	IndexedDeltas bool
}

// SummaryRef is one published ref.
type SummaryRef struct {
	Name   string
	Commit Checksum
	// CommitSize is the commit object's size in bytes, which bounds its
	// download (0: unknown).
	CommitSize uint64
	// Timestamp is the commit's, from ostree.commit.timestamp (zero when
	// the summary has none).
	Timestamp time.Time
	// Metadata holds the ref's keys (ostree.commit.timestamp,
	// ostree.commit.version, …), in order.
	Metadata gvariant.Metadata
}

// DecodeSummary decodes a summary file, such as a remote serves; an error
// wraps ErrCorrupt.
func DecodeSummary(data []byte) (*Summary, error) {
	gs, err := gvariant.DecodeSummary(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	s := &Summary{Refs: make([]SummaryRef, 0, len(gs.Refs)), Metadata: gs.Metadata}
	for _, gr := range gs.Refs {
		c, ok := checksumFromBytes(gr.Checksum)
		if !ok {
			return nil, fmt.Errorf("ref %s: %w: checksum of %d bytes", gr.Name, ErrCorrupt, len(gr.Checksum))
		}
		ref := SummaryRef{Name: gr.Name, Commit: c, CommitSize: gr.CommitSize, Metadata: gr.Metadata}
		if v, ok := gr.Metadata.Lookup("ostree.commit.timestamp"); ok {
			if ts, err := v.Uint64BE(); err == nil {
				ref.Timestamp = time.Unix(int64(ts), 0).UTC()
			}
		}
		s.Refs = append(s.Refs, ref)
	}
	if s.StaticDeltas, err = DecodeStaticDeltas(gs.Metadata); err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	if v, ok := gs.Metadata.Lookup("ostree.summary.indexed-deltas"); ok && v.Type == "b" && len(v.Data) == 1 {
		s.IndexedDeltas = v.Data[0] == 1
	}
	return s, nil
}

// DecodeStaticDeltas reads the ostree.static-deltas entry of a summary's
// or a delta index's metadata: delta name → SHA-256 of its superblock. It
// returns nil when there is none; an entry of the wrong shape is
// ErrCorrupt.
func DecodeStaticDeltas(m gvariant.Metadata) (map[string]Checksum, error) {
	v, ok := m.Lookup("ostree.static-deltas")
	if !ok {
		return nil, nil
	}
	if v.Type != "a{sv}" {
		return nil, fmt.Errorf("ostree.static-deltas of type %s: %w", v.Type, ErrCorrupt)
	}
	entries, err := gvariant.DecodeMetadata(v.Data)
	if err != nil {
		return nil, fmt.Errorf("ostree.static-deltas: %w: %v", ErrCorrupt, err)
	}
	out := make(map[string]Checksum, len(entries))
	for _, e := range entries {
		c, ok := checksumFromBytes(e.Value.Data)
		if e.Value.Type != "ay" || !ok {
			return nil, fmt.Errorf("ostree.static-deltas: delta %s: %w: superblock checksum of type %s, %d bytes", e.Key, ErrCorrupt, e.Value.Type, len(e.Value.Data))
		}
		out[e.Key] = c
	}
	return out, nil
}
