package delta

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/repofs/repofs/repo"
)

// Name identifies a delta: From to To, or from nothing (Scratch) to To.
type Name struct {
	From    repo.Checksum
	To      repo.Checksum
	Scratch bool
}

// String spells the name as ostree does: "FROM-TO", or "TO" for a scratch
// delta.
func (n Name) String() string {
	if n.Scratch {
		return n.To.String()
	}
	return n.From.String() + "-" + n.To.String()
}

// ParseName parses "FROM-TO" or "TO" (64 lower-case hex digits each).
func ParseName(s string) (Name, bool) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		c, err := repo.ParseChecksum(s)
		return Name{To: c, Scratch: true}, err == nil
	}
	f, err1 := repo.ParseChecksum(from)
	t, err2 := repo.ParseChecksum(to)
	return Name{From: f, To: t}, err1 == nil && err2 == nil
}

// mb64 is ostree's "modified base64" of a checksum: no padding, '/' as '_'.
func mb64(c repo.Checksum) string {
	return strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(c[:]), "/", "_")
}

// Dir is the delta's directory relative to the repository (or remote URL).
func (n Name) Dir() string {
	t := mb64(n.To)
	if n.Scratch {
		return "deltas/" + t[:2] + "/" + t[2:]
	}
	f := mb64(n.From)
	return "deltas/" + f[:2] + "/" + f[2:] + "-" + t
}

// SuperblockPath is where the delta's superblock is.
func (n Name) SuperblockPath() string { return n.Dir() + "/superblock" }

// PartPath is where part i of the delta is.
func (n Name) PartPath(i int) string { return n.Dir() + "/" + strconv.Itoa(i) }

// commitMetaKey is the superblock metadata key of the to-commit's detached
// metadata.
func (n Name) commitMetaKey() string { return n.Dir() + "/commitmeta" }

// IndexPath is where the delta index of deltas to commit to is.
func IndexPath(to repo.Checksum) string {
	t := mb64(to)
	return "delta-indexes/" + t[:2] + "/" + t[2:] + ".index"
}
