package delta

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/repofs/repofs/repo"
)

// ErrNoDelta means the repository has no such delta.
var ErrNoDelta = errors.New("no such static delta")

// Delete removes the delta's directory.
func Delete(r *repo.Repo, n Name) error {
	dir := filepath.Join(r.Path(), n.Dir())
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete static delta: can't find delta %s: %w", n, ErrNoDelta)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete static delta %s: %w", n, err)
	}
	return nil
}

// ReadSuperblockFile reads a superblock file (signed or not) and decodes
// the superblock, returning the signatures when it is signed.
func ReadSuperblockFile(path string) (*Superblock, Signatures, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	var sigs Signatures
	raw := data
	if IsSigned(data) {
		if raw, sigs, err = DecodeSigned(data); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	sb, err := DecodeSuperblock(raw)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return sb, sigs, raw, nil
}
