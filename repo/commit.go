package repo

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/repofs/repofs/repo/gvariant"
)

// Commit is a decoded commit object.
type Commit struct {
	Checksum  Checksum
	Metadata  gvariant.Metadata
	Parent    Checksum
	HasParent bool
	Subject   string
	Body      string
	Timestamp time.Time
	RootTree  Checksum
	RootMeta  Checksum
}

// Version returns the commit's "version" metadata, if any.
func (c *Commit) Version() (string, bool) {
	v, ok := c.Metadata.Lookup("version")
	if !ok {
		return "", false
	}
	s, err := v.String()
	return s, err == nil
}

// ContentChecksum is what `ostree show` prints as ContentChecksum: the
// SHA-256 of the root dirtree and dirmeta checksums.
func (c *Commit) ContentChecksum() Checksum {
	return sha256.Sum256(append(c.RootTree[:], c.RootMeta[:]...))
}

// ReadCommit reads and verifies a commit object.
func (r *Repo) ReadCommit(c Checksum) (*Commit, error) {
	data, err := r.readMetadata(c, ObjCommit)
	if err != nil {
		return nil, err
	}
	return decodeCommit(c, data)
}

func decodeCommit(c Checksum, data []byte) (*Commit, error) {
	gc, err := gvariant.DecodeCommit(data)
	if err != nil {
		return nil, corruptf(c, ObjCommit, "%v", err)
	}
	out := &Commit{
		Checksum:  c,
		Metadata:  gc.Metadata,
		Subject:   gc.Subject,
		Body:      gc.Body,
		Timestamp: time.Unix(int64(gc.Timestamp), 0).UTC(),
	}
	var ok bool
	if len(gc.Parent) > 0 {
		if out.Parent, ok = checksumFromBytes(gc.Parent); !ok {
			return nil, corruptf(c, ObjCommit, "parent checksum of %d bytes", len(gc.Parent))
		}
		out.HasParent = true
	}
	if out.RootTree, ok = checksumFromBytes(gc.RootTree); !ok {
		return nil, corruptf(c, ObjCommit, "root dirtree checksum of %d bytes", len(gc.RootTree))
	}
	if out.RootMeta, ok = checksumFromBytes(gc.RootMeta); !ok {
		return nil, corruptf(c, ObjCommit, "root dirmeta checksum of %d bytes", len(gc.RootMeta))
	}
	for _, e := range gc.Metadata {
		if e.Key == "" {
			return nil, corruptf(c, ObjCommit, "empty metadata key")
		}
	}
	return out, nil
}

// ReadCommitMeta reads a commit's detached metadata; a commit without any
// has none (nil, nil).
func (r *Repo) ReadCommitMeta(c Checksum) (gvariant.Metadata, error) {
	data, err := r.readMetadata(c, ObjCommitMeta)
	return decodeCommitMeta(c, data, err)
}

// decodeCommitMeta decodes what reading a commitmeta returned.
func decodeCommitMeta(c Checksum, data []byte, err error) (gvariant.Metadata, error) {
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := gvariant.DecodeMetadata(data)
	if err != nil {
		return nil, corruptf(c, ObjCommitMeta, "%v", err)
	}
	return m, nil
}

// IsPartial reports whether the commit is marked partial: its tree may be
// incomplete (state/<commit>.commitpartial exists).
func (r *Repo) IsPartial(c Checksum) (bool, error) {
	_, err := os.Stat(r.partialPath(c))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

func (r *Repo) partialPath(c Checksum) string {
	return filepath.Join(r.path, "state", c.String()+".commitpartial")
}

// DecodeCommit decodes and validates a commit object's bytes; c is its
// checksum.
func DecodeCommit(c Checksum, data []byte) (*Commit, error) { return decodeCommit(c, data) }
