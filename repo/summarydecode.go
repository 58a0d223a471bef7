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
	return s, nil
}
