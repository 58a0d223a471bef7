package delta

import (
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
)

// DecodeIndex decodes a delta index (delta-indexes/…/T.index): the deltas
// to T the remote has, each with the SHA-256 of its superblock.
func DecodeIndex(data []byte) (map[string]repo.Checksum, error) {
	m, err := gvariant.DecodeMetadata(data)
	if err != nil {
		return nil, invalidf("delta index: %v", err)
	}
	out, err := repo.DecodeStaticDeltas(m)
	if err != nil {
		return nil, invalidf("delta index: %v", err)
	}
	return out, nil
}
