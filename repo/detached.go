package repo

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/repofs/repofs/repo/gvariant"
)

// ReadMetadata returns a metadata object's bytes, staged by this
// transaction or in objects/: what signing a commit written in the same
// transaction needs.
func (tx *Transaction) ReadMetadata(c Checksum, t ObjectType) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(tx.staging.Path, tx.stagedRel(c, t)))
	if errors.Is(err, fs.ErrNotExist) {
		return tx.r.readMetadata(c, t)
	}
	if err != nil {
		return nil, fmt.Errorf("read staged %s.%s: %w", c, t.Ext(), err)
	}
	if Checksum(sha256.Sum256(data)) != c && t != ObjCommitMeta {
		return nil, corruptf(c, t, "staged copy does not match its checksum")
	}
	return data, nil
}

// ReadCommitMeta is Repo.ReadCommitMeta seeing this transaction's staged
// detached metadata too.
func (tx *Transaction) ReadCommitMeta(c Checksum) (gvariant.Metadata, error) {
	data, err := tx.ReadMetadata(c, ObjCommitMeta)
	return decodeCommitMeta(c, data, err)
}

// WriteCommitMeta stages a commit's new detached metadata (where
// signatures live); it replaces the old one when the transaction commits.
func (tx *Transaction) WriteCommitMeta(c Checksum, md gvariant.Metadata) error {
	_, err := tx.WriteMetadata(ObjCommitMeta, gvariant.EncodeMetadata(md), &c)
	return err
}
