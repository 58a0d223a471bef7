package sign

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// MergeKeys returns the binary keyring file at path (which may not exist
// yet) with OpenPGP public keys of data (armored or binary, as exported by
// gpg) added, for the caller to write in its place; keyIDs, when given,
// select which keys of data to take. A key already present is merged with
// the new copy, as gpg --import does: a re-import brings in new revocations
// and self-signatures and never drops old ones, so re-importing an older
// export cannot un-revoke a key. n is how many keys of data were taken.
func MergeKeys(path string, data []byte, keyIDs []string) (keyring []byte, n int, err error) {
	el, err := ReadOpenPGPKeys(data)
	if err != nil {
		return nil, 0, err
	}
	if len(keyIDs) > 0 {
		if el, err = pickKeys(el, keyIDs); err != nil {
			return nil, 0, err
		}
	}
	if len(el) == 0 {
		return nil, 0, errors.New("no OpenPGP public keys in the input")
	}
	var have openpgp.EntityList
	if old, err := os.ReadFile(path); err == nil {
		if have, err = ReadOpenPGPKeys(old); err != nil {
			return nil, 0, fmt.Errorf("existing keyring %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, 0, err
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
			return nil, 0, err
		}
	}
	return buf.Bytes(), len(el), nil
}

// pickKeys returns the keys of el that keyIDs name (by primary key or
// subkey), each once; a key ID naming none is an error.
func pickKeys(el openpgp.EntityList, keyIDs []string) (openpgp.EntityList, error) {
	var picked openpgp.EntityList
	for _, id := range keyIDs {
		want, err := ParseKeyID(id)
		if err != nil {
			return nil, err
		}
		found := false
		for _, e := range el {
			if matchesKey(e, want) {
				found = true
				if !slices.Contains(picked, e) { // named by two IDs: taken once
					picked = append(picked, e)
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("key %s is not in the keys given", id)
		}
	}
	return picked, nil
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

// matchesKey reports whether want (from ParseKeyID) names e's primary key
// or one of its subkeys.
func matchesKey(e *openpgp.Entity, want string) bool {
	return FingerprintMatches(e.PrimaryKey.Fingerprint, want) ||
		slices.ContainsFunc(e.Subkeys, func(sk openpgp.Subkey) bool { return FingerprintMatches(sk.PublicKey.Fingerprint, want) })
}
