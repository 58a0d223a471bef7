package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/sign"
)

// ImportKeys adds OpenPGP public keys (armored or binary, as exported by
// gpg) to a remote's keyring, REPO/REMOTE.trustedkeys.gpg, where ostree
// keeps them; keyIDs, when given, select which keys of data to import.
// A key already present is merged with the new copy, as gpg --import
// does: a re-import brings in new revocations and self-signatures and
// never drops old ones, so re-importing an older export cannot un-revoke a
// key. It returns how many keys it imported.
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
			want, err := sign.ParseKeyID(id)
			if err != nil {
				return 0, fmt.Errorf("import keys for remote %s: %w", remote, err)
			}
			found := false
			for _, e := range el {
				if matchesKey(e, want) {
					found = true
					if !slices.Contains(picked, e) { // named by two IDs: imported once
						picked = append(picked, e)
					}
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
				have[i], replaced = mergeEntity(h, e), true
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
	if err := repo.WriteFileAtomic(path, buf.Bytes(), 0o644); err != nil {
		return 0, fmt.Errorf("import keys for remote %s: %w", remote, err)
	}
	return len(el), nil
}

// mergeEntity merges two copies of one key: every signature packet either
// holds is kept (revocations, self-signatures, certifications), and of the
// one binding signature a subkey carries, the newer. Reading the keyring
// back then takes the newest self-signatures and honours every revocation.
func mergeEntity(old, e *openpgp.Entity) *openpgp.Entity {
	m := *e
	m.Revocations = unionSigs(old.Revocations, e.Revocations)
	m.Signatures = unionSigs(old.Signatures, e.Signatures)
	m.Identities = make(map[string]*openpgp.Identity, len(e.Identities))
	for name, id := range e.Identities {
		m.Identities[name] = id
	}
	for name, oid := range old.Identities {
		nid, ok := m.Identities[name]
		if !ok {
			m.Identities[name] = oid
			continue
		}
		merged := *nid
		merged.Signatures = unionSigs(oid.Signatures, nid.Signatures)
		merged.Revocations = unionSigs(oid.Revocations, nid.Revocations)
		m.Identities[name] = &merged
	}
	m.Subkeys = slices.Clone(e.Subkeys)
	for _, osk := range old.Subkeys {
		i := slices.IndexFunc(m.Subkeys, func(sk openpgp.Subkey) bool {
			return bytes.Equal(sk.PublicKey.Fingerprint, osk.PublicKey.Fingerprint)
		})
		if i < 0 {
			m.Subkeys = append(m.Subkeys, osk)
			continue
		}
		sk := &m.Subkeys[i]
		sk.Revocations = unionSigs(osk.Revocations, sk.Revocations)
		if osk.Sig != nil && (sk.Sig == nil || osk.Sig.CreationTime.After(sk.Sig.CreationTime)) {
			sk.Sig = osk.Sig
		}
	}
	return &m
}

// unionSigs returns a's signatures and those of b not in a, by their bytes.
func unionSigs(a, b []*packet.Signature) []*packet.Signature {
	seen := map[string]bool{}
	var out []*packet.Signature
	for _, s := range slices.Concat(a, b) {
		var buf bytes.Buffer
		if s == nil || s.Serialize(&buf) != nil || seen[buf.String()] {
			continue
		}
		seen[buf.String()] = true
		out = append(out, s)
	}
	return out
}

func matchesKey(e *openpgp.Entity, want string) bool {
	return sign.FingerprintMatches(e.PrimaryKey.Fingerprint, want) ||
		slices.ContainsFunc(e.Subkeys, func(sk openpgp.Subkey) bool { return sign.FingerprintMatches(sk.PublicKey.Fingerprint, want) })
}
