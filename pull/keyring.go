package pull

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/sign"
)

// ImportKeys adds OpenPGP public keys (armored or binary, as exported by
// gpg) to a remote's keyring, REPO/REMOTE.trustedkeys.gpg, where ostree
// keeps them; keyIDs, when given, select which keys of data to import.
// A key already present is replaced, so that a re-import brings in its
// new revocations and expiry dates. It returns how many keys it imported.
func ImportKeys(ctx context.Context, r *repo.Repo, remote string, data []byte, keyIDs []string) (int, error) {
	if _, err := ReadRemote(r, remote); err != nil {
		return 0, err
	}
	el, err := sign.ReadOpenPGPKeys(data)
	if err != nil {
		return 0, fmt.Errorf("import keys for remote %s: %w", remote, err)
	}
	if len(keyIDs) > 0 {
		var picked openpgp.EntityList
		for _, id := range keyIDs {
			want := strings.ToUpper(strings.TrimPrefix(id, "0x"))
			found := false
			for _, e := range el {
				if matchesKey(e, want) {
					picked = append(picked, e)
					found = true
				}
			}
			if !found {
				return 0, fmt.Errorf("import keys for remote %s: key %s is not in the keys given", remote, id)
			}
		}
		el = picked
	}
	if len(el) == 0 {
		return 0, fmt.Errorf("import keys for remote %s: no OpenPGP public keys in the input", remote)
	}
	path := KeyringPath(r, remote)
	var have openpgp.EntityList
	if old, err := os.ReadFile(path); err == nil {
		if have, err = sign.ReadOpenPGPKeys(old); err != nil {
			return 0, fmt.Errorf("import keys for remote %s: existing keyring %s: %w", remote, path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("import keys for remote %s: %w", remote, err)
	}
	for _, e := range el {
		fp := e.PrimaryKey.Fingerprint
		replaced := false
		for i, h := range have {
			if bytes.Equal(h.PrimaryKey.Fingerprint, fp) {
				have[i], replaced = e, true
			}
		}
		if !replaced {
			have = append(have, e)
		}
	}
	var buf bytes.Buffer
	for _, e := range have {
		if err := e.Serialize(&buf); err != nil {
			return 0, fmt.Errorf("import keys for remote %s: %w", remote, err)
		}
	}
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return 0, fmt.Errorf("import keys for remote %s: %w", remote, err)
	}
	return len(el), nil
}

func matchesKey(e *openpgp.Entity, want string) bool {
	if strings.HasSuffix(strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint)), want) {
		return true
	}
	for _, sk := range e.Subkeys {
		if strings.HasSuffix(strings.ToUpper(hex.EncodeToString(sk.PublicKey.Fingerprint)), want) {
			return true
		}
	}
	return false
}

// writeFileAtomic replaces path with data: temporary file, fsync, rename,
// fsync of the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
