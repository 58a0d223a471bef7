package pull

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/sign"
)

// ImportKeys adds OpenPGP public keys (armored or binary, as exported by
// gpg) to a remote's keyring, KeyringPath, where ostree keeps them;
// keyIDs, when given, select which keys of data to import. Keys already
// there are merged as gpg --import does (sign.MergeKeys), so re-importing
// an older export cannot un-revoke a key. It returns how many keys it
// imported.
func ImportKeys(ctx context.Context, r *repo.Repo, remote string, data []byte, keyIDs []string) (int, error) {
	if _, err := ReadRemote(r, remote); err != nil {
		return 0, err
	}
	path := KeyringPath(r, remote)
	keyring, n, err := sign.MergeKeys(path, data, keyIDs)
	if err != nil {
		return 0, fmt.Errorf("import keys for remote %s: %w", remote, err)
	}
	if err := repo.WriteFileAtomic(path, keyring, 0o644); err != nil {
		return 0, fmt.Errorf("import keys for remote %s: %w", remote, err)
	}
	return n, nil
}

// KeyringPath is where ostree keeps the OpenPGP keys imported for a remote
// (remote add --gpg-import): a binary keyring in the repository directory.
func KeyringPath(r *repo.Repo, remote string) string {
	return filepath.Join(r.Path(), remote+".trustedkeys.gpg")
}
