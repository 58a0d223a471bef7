package repo

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/repofs/repofs/repo/gvariant"
)

// SummaryIndex is Flatpak's summary index, summary.idx: the subsummaries
// a remote publishes beside (or instead of) its plain summary. Each
// subsummary is an ordinary summary of a subset of the refs, named after
// an architecture ("x86_64", which includes the i386 refs) or
// "SUBSET-ARCH", served gzipped as summaries/DIGEST.gz, where DIGEST is
// the SHA-256 of the uncompressed summary, and reachable from its previous
// versions through summaries/OLD-NEW.delta. See doc.go of package pull
// for how a pull uses them.
type SummaryIndex struct {
	Subsummaries []Subsummary
	// Metadata holds the index's keys (the repository-wide ones that a
	// plain summary carries: title, indexed-deltas, …), in order.
	Metadata gvariant.Metadata
}

// Subsummary is one entry of a summary index.
type Subsummary struct {
	Name   string
	Digest Checksum // SHA-256 of the uncompressed subsummary
	// History holds the digests of previous versions, newest first,
	// from which a .delta leads to this one.
	History  []Checksum
	Metadata gvariant.Metadata
}

// DecodeSummaryIndex decodes a summary.idx file; an error wraps
// ErrCorrupt.
func DecodeSummaryIndex(data []byte) (*SummaryIndex, error) {
	gs, err := gvariant.DecodeSummaryIndex(data)
	if err != nil {
		return nil, fmt.Errorf("summary index: %w: %v", ErrCorrupt, err)
	}
	ix := &SummaryIndex{Metadata: gs.Metadata}
	for _, gsub := range gs.Subsummaries {
		d, ok := checksumFromBytes(gsub.Checksum)
		if !ok {
			return nil, fmt.Errorf("summary index: subsummary %s: %w: digest of %d bytes", gsub.Name, ErrCorrupt, len(gsub.Checksum))
		}
		sub := Subsummary{Name: gsub.Name, Digest: d, Metadata: gsub.Metadata}
		for _, h := range gsub.History {
			// Flatpak skips history entries of the wrong length too.
			if c, ok := checksumFromBytes(h); ok {
				sub.History = append(sub.History, c)
			}
		}
		ix.Subsummaries = append(ix.Subsummaries, sub)
	}
	return ix, nil
}

// IndexedDeltas reports whether the index says the remote publishes
// delta-indexes/ (ostree.summary.indexed-deltas): subsummaries list no
// deltas themselves.
func (ix *SummaryIndex) IndexedDeltas() bool {
	v, ok := ix.Metadata.Lookup("ostree.summary.indexed-deltas")
	return ok && v.Type == "b" && len(v.Data) == 1 && v.Data[0] == 1
}

// InflateSubsummary decompresses a summaries/DIGEST.gz file and checks
// that its SHA-256 is digest; an error wraps ErrCorrupt.
func InflateSubsummary(gz []byte, digest Checksum) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("subsummary %s: %w: %v", digest, ErrCorrupt, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, MaxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("subsummary %s: %w: %v", digest, ErrCorrupt, err)
	}
	if len(data) > MaxMetadataSize {
		return nil, fmt.Errorf("subsummary %s: %w: more than %d bytes", digest, ErrCorrupt, MaxMetadataSize)
	}
	if sha256.Sum256(data) != digest {
		return nil, fmt.Errorf("subsummary %s: %w: checksum of the uncompressed bytes is %x", digest, ErrCorrupt, sha256.Sum256(data))
	}
	return data, nil
}

// summaryDiffMagic opens an uncompressed summary delta.
const summaryDiffMagic = "xadf"

// Operations of a summary delta: the top four bits of each 32-bit
// little-endian op, the low 28 its byte count.
const (
	diffReuseOld = iota // copy the next bytes of the old summary
	diffSkipOld         // skip the next bytes of the old summary
	diffData            // copy the next bytes of the delta's data
)

// ApplySummaryDiff rebuilds a subsummary from its previous version old and
// a summaries/OLD-NEW.delta file, and checks that the result's SHA-256 is
// digest; an error wraps ErrCorrupt. The delta is gzip of "xadf", a
// little-endian uint32 op count, the ops, then the data the DATA ops
// consume in order.
func ApplySummaryDiff(old, delta []byte, digest Checksum) ([]byte, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("summary delta to %s: %w: "+format, append([]any{digest, ErrCorrupt}, args...)...)
	}
	zr, err := gzip.NewReader(bytes.NewReader(delta))
	if err != nil {
		return nil, fail("%v", err)
	}
	d, err := io.ReadAll(io.LimitReader(zr, MaxMetadataSize+1))
	if err != nil {
		return nil, fail("%v", err)
	}
	if len(d) < 8 || string(d[:4]) != summaryDiffMagic {
		return nil, fail("no %s header", summaryDiffMagic)
	}
	n := uint64(binary.LittleEndian.Uint32(d[4:]))
	if 8+4*n > uint64(len(d)) {
		return nil, fail("%d ops in %d bytes", n, len(d))
	}
	ops, data := d[8:8+4*n], d[8+4*n:]
	var out []byte
	for i := range n {
		op := binary.LittleEndian.Uint32(ops[4*i:])
		kind, size := op>>28, int(op&0x0fffffff)
		switch {
		case kind == diffReuseOld && size <= len(old):
			out = append(out, old[:size]...)
			old = old[size:]
		case kind == diffSkipOld && size <= len(old):
			old = old[size:]
		case kind == diffData && size <= len(data):
			out = append(out, data[:size]...)
			data = data[size:]
		default:
			return nil, fail("op %d (kind %d, %d bytes) out of range", i, kind, size)
		}
		if len(out) > MaxMetadataSize {
			return nil, fail("more than %d bytes", MaxMetadataSize)
		}
	}
	if sha256.Sum256(out) != digest {
		return nil, fail("result has checksum %x", sha256.Sum256(out))
	}
	return out, nil
}
