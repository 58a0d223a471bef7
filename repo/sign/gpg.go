package sign

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// ReadOpenPGPKeys reads OpenPGP keys, ASCII-armored or binary (a keyring
// file such as ostree's REMOTE.trustedkeys.gpg, or gpg --export output).
func ReadOpenPGPKeys(data []byte) (openpgp.EntityList, error) {
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP")) {
		var all openpgp.EntityList
		rest := trimmed
		// A file may hold several armored blocks (one per exported key).
		for len(bytes.TrimSpace(rest)) > 0 {
			blk, err := armor.Decode(bytes.NewReader(rest))
			if err != nil {
				if len(all) > 0 {
					break
				}
				return nil, fmt.Errorf("OpenPGP keys: %w", err)
			}
			el, err := openpgp.ReadKeyRing(blk.Body)
			if err != nil {
				return nil, fmt.Errorf("OpenPGP keys: %w", err)
			}
			all = append(all, el...)
			end := bytes.Index(rest, []byte("-----END PGP"))
			if end < 0 {
				break
			}
			nl := bytes.IndexByte(rest[end:], '\n')
			if nl < 0 {
				break
			}
			rest = rest[end+nl+1:]
		}
		return all, nil
	}
	el, err := openpgp.ReadKeyRing(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("OpenPGP keys: %w", err)
	}
	return el, nil
}

// Keyring holds the OpenPGP public keys a check trusts.
type Keyring struct {
	entities openpgp.EntityList
}

// Len is the number of keys (primary keys with their subkeys).
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.entities)
}

// Entities returns the keys.
func (k *Keyring) Entities() openpgp.EntityList { return k.entities }

// Add adds keys.
func (k *Keyring) Add(el openpgp.EntityList) { k.entities = append(k.entities, el...) }

// AddFile adds the keys of a keyring file or an armored key file.
func (k *Keyring) AddFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("OpenPGP keyring: %w", err)
	}
	el, err := ReadOpenPGPKeys(data)
	if err != nil {
		return fmt.Errorf("OpenPGP keyring %s: %w", path, err)
	}
	k.Add(el)
	return nil
}

// AddDir adds every *.gpg file of a directory, as ostree's keyring
// directories are read; a missing directory adds nothing.
func (k *Keyring) AddDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("OpenPGP keyring directory: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".gpg") {
			continue
		}
		if err := k.AddFile(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// GPGSignature is what checking one OpenPGP signature found, with the
// fields ostree's verify result has.
type GPGSignature struct {
	// Fingerprint of the signing key (or, when the key is missing, its
	// key ID as the signature names it); PrimaryFingerprint of its
	// primary key.
	Fingerprint, PrimaryFingerprint string
	Created                         time.Time
	Expires                         time.Time // zero: never
	KeyExpires, PrimaryKeyExpires   time.Time // zero: never
	Algo                            string
	UserName, UserEmail             string

	Valid, KeyMissing, KeyExpired, KeyRevoked, SigExpired bool
	// Err is the reason a signature that is not valid failed.
	Err error
}

// KeyID is the last 16 hex digits of the signing key's fingerprint, as
// ostree prints it.
func (s *GPGSignature) KeyID() string { return tail16(s.Fingerprint) }

func tail16(s string) string {
	if len(s) > 16 {
		return s[len(s)-16:]
	}
	return s
}

// VerifyGPG checks each detached signature in sigs against data at time
// now; callers decide with RequireValidGPG.
func (k *Keyring) VerifyGPG(data []byte, sigs [][]byte, now time.Time) []GPGSignature {
	out := make([]GPGSignature, 0, len(sigs))
	for _, raw := range sigs {
		out = append(out, k.verifyOne(data, raw, now))
	}
	return out
}

func (k *Keyring) verifyOne(data, raw []byte, now time.Time) (res GPGSignature) {
	r := bytes.NewReader(raw)
	p, err := packet.Read(r)
	sig, ok := p.(*packet.Signature)
	if err == nil && !ok {
		err = fmt.Errorf("not a signature packet (%T)", p)
	}
	if err == nil && r.Len() > 0 {
		// ostree stores one signature per element; with more, what is
		// described need not be what verified.
		err = fmt.Errorf("%d bytes after the signature packet", r.Len())
	}
	if err != nil {
		res.Err = fmt.Errorf("malformed OpenPGP signature: %w", err)
		return res
	}
	res.Created = sig.CreationTime
	if sig.SigLifetimeSecs != nil && *sig.SigLifetimeSecs != 0 {
		res.Expires = sig.CreationTime.Add(time.Duration(*sig.SigLifetimeSecs) * time.Second)
	}
	res.Algo = algoName(sig.PubKeyAlgo)
	switch {
	case len(sig.IssuerFingerprint) > 0:
		res.Fingerprint = strings.ToUpper(hex.EncodeToString(sig.IssuerFingerprint))
	case sig.IssuerKeyId != nil:
		res.Fingerprint = fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	var keys []openpgp.Key
	if sig.IssuerKeyId != nil && k != nil {
		keys = k.entities.KeysById(*sig.IssuerKeyId)
	}
	if len(keys) == 0 {
		res.KeyMissing = true
		res.Err = errors.New("public key not found")
		return res
	}
	key := keys[0]
	res.Fingerprint = strings.ToUpper(hex.EncodeToString(key.PublicKey.Fingerprint))
	res.PrimaryFingerprint = strings.ToUpper(hex.EncodeToString(key.Entity.PrimaryKey.Fingerprint))
	if id := key.Entity.PrimaryIdentity(); id != nil && id.UserId != nil {
		res.UserName, res.UserEmail = id.UserId.Name, id.UserId.Email
	}
	if key.SelfSignature != nil && key.SelfSignature.KeyLifetimeSecs != nil && *key.SelfSignature.KeyLifetimeSecs != 0 {
		res.KeyExpires = key.PublicKey.CreationTime.Add(time.Duration(*key.SelfSignature.KeyLifetimeSecs) * time.Second)
	}
	if ps, _ := key.Entity.PrimarySelfSignature(); ps != nil && ps.KeyLifetimeSecs != nil && *ps.KeyLifetimeSecs != 0 {
		res.PrimaryKeyExpires = key.Entity.PrimaryKey.CreationTime.Add(time.Duration(*ps.KeyLifetimeSecs) * time.Second)
	}
	// A signer whose clock runs ahead would make its fresh signatures
	// look expired ("created in the future") to go-crypto; gpg accepts
	// those, so check validity as of the later of now and the signature.
	at := now
	if sig.CreationTime.After(at) {
		at = sig.CreationTime
	}
	_, _, err = openpgp.VerifyDetachedSignature(k.entities, bytes.NewReader(data), bytes.NewReader(raw), &packet.Config{Time: func() time.Time { return at }})
	switch {
	case err == nil:
		res.Valid = true
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		res.KeyRevoked, res.Err = true, errors.New("key revoked")
	case errors.Is(err, pgperrors.ErrKeyExpired):
		res.KeyExpired, res.Err = true, errors.New("key expired")
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		res.SigExpired, res.Err = true, errors.New("signature expired")
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		// The key is there (looked up above), but not for signing.
		res.Err = fmt.Errorf("key %s is not a signing key", res.Fingerprint)
	default:
		res.Err = fmt.Errorf("BAD signature from %q: %w", res.UserName+" <"+res.UserEmail+">", err)
	}
	return res
}

func algoName(a packet.PublicKeyAlgorithm) string {
	switch a {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		return "RSA"
	case packet.PubKeyAlgoDSA:
		return "DSA"
	case packet.PubKeyAlgoECDSA:
		return "ECDSA"
	case packet.PubKeyAlgoEdDSA:
		return "EdDSA"
	case packet.PubKeyAlgoEd25519:
		return "Ed25519"
	case packet.PubKeyAlgoEd448:
		return "Ed448"
	}
	return fmt.Sprintf("algorithm %d", a)
}

// RequireValidGPG succeeds when at least one signature is valid, the rule
// ostree applies. Otherwise the error matches ErrNoSignatures or
// ErrBadSignature and says, for each signature, why it failed.
func RequireValidGPG(results []GPGSignature) error {
	if len(results) == 0 {
		return &sigError{"No GPG signatures found", ErrNoSignatures}
	}
	var why []string
	for i := range results {
		r := &results[i]
		if r.Valid {
			return nil
		}
		id := r.KeyID()
		if id == "" {
			id = "(unknown)"
		}
		why = append(why, fmt.Sprintf("signature by key ID %s: %v", id, r.Err))
	}
	return badf("GPG signatures found, but none verified: %s", strings.Join(why, "; "))
}

// Describe writes a signature the way ostree show does (which mimics
// gpg --verify), each line starting with prefix.
func (s *GPGSignature) Describe(w io.Writer, prefix string) {
	if s.Created.IsZero() {
		fmt.Fprintf(w, "%sCan't check signature: %v\n", prefix, s.Err)
		return
	}
	fmt.Fprintf(w, "%sSignature made %s using %s key ID %s\n", prefix, cDate(s.Created), s.Algo, s.KeyID())
	who := fmt.Sprintf("%q", s.UserName+" <"+s.UserEmail+">")
	switch {
	case s.KeyMissing:
		fmt.Fprintf(w, "%sCan't check signature: public key not found\n", prefix)
	case s.Valid:
		fmt.Fprintf(w, "%sGood signature from %s\n", prefix, who)
	case s.KeyRevoked:
		fmt.Fprintf(w, "%sKey revoked\n", prefix)
	case s.SigExpired:
		fmt.Fprintf(w, "%sExpired signature from %s\n", prefix, who)
	default:
		fmt.Fprintf(w, "%sBAD signature from %s\n", prefix, who)
	}
	sub := !s.KeyMissing && s.Fingerprint != s.PrimaryFingerprint
	if sub {
		fmt.Fprintf(w, "%sPrimary key ID %s\n", prefix, tail16(s.PrimaryFingerprint))
	}
	expiry := func(what string, t time.Time) {
		if t.IsZero() {
			return
		}
		verb := "expires"
		if !t.After(time.Now()) {
			verb = "expired"
		}
		fmt.Fprintf(w, "%s%s %s %s\n", prefix, what, verb, cDate(t))
	}
	expiry("Signature", s.Expires)
	expiry("Key", s.KeyExpires)
	if sub {
		expiry("Primary key", s.PrimaryKeyExpires)
	}
}

// cDate is glib's %c in the C locale, in local time. Its %e pads a day
// below 10 with a figure space (U+2007), which g_print writes as it is
// where the locale's charset is UTF-8 (C.UTF-8, as on Debian) and as a
// '?' elsewhere.
func cDate(t time.Time) string {
	t = t.Local()
	return t.Format("Mon Jan ") + dayPad(t.Day(), utf8Locale()) + t.Format(" 15:04:05 2006")
}

func dayPad(day int, utf8 bool) string {
	switch {
	case day >= 10:
		return strconv.Itoa(day)
	case utf8:
		return "\u2007" + strconv.Itoa(day)
	default:
		return "?" + strconv.Itoa(day)
	}
}

// utf8Locale reports whether the locale's charset is UTF-8, as setlocale
// finds it: the first of LC_ALL, LC_CTYPE and LANG that is set.
func utf8Locale() bool {
	for _, v := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if l := os.Getenv(v); l != "" {
			l = strings.ToLower(l)
			return strings.Contains(l, "utf-8") || strings.Contains(l, "utf8")
		}
	}
	return false
}

// ParseKeyID checks an OpenPGP key ID as gpg takes it on the command line:
// a short (8), long (16) or full (40 hex digits) ID, with or without 0x.
// It returns the ID upper-cased, for FingerprintMatches.
func ParseKeyID(id string) (string, error) {
	want := strings.ToUpper(id)
	want = strings.TrimPrefix(want, "0X")
	if _, err := hex.DecodeString(want); err != nil || (len(want) != 8 && len(want) != 16 && len(want) != 40) {
		return "", fmt.Errorf("OpenPGP key ID %q: want 8, 16 or 40 hex digits", id)
	}
	return want, nil
}

// FingerprintMatches reports whether a key's fingerprint ends in the key
// ID want, from ParseKeyID.
func FingerprintMatches(fp []byte, want string) bool {
	return strings.HasSuffix(strings.ToUpper(hex.EncodeToString(fp)), want)
}

// FindSigningKey finds keyID (a key ID or fingerprint in hex, of a primary
// key or a signing subkey, optionally 0x-prefixed) among secret keys, and
// returns the entity with the config that makes it sign with that key.
func FindSigningKey(secret openpgp.EntityList, keyID string) (*openpgp.Entity, *packet.Config, error) {
	want, err := ParseKeyID(keyID)
	if err != nil {
		return nil, nil, err
	}
	var ids []string
	for _, e := range secret {
		cands := []*openpgp.Key{{Entity: e, PublicKey: e.PrimaryKey, PrivateKey: e.PrivateKey}}
		for i := range e.Subkeys {
			sk := &e.Subkeys[i]
			cands = append(cands, &openpgp.Key{Entity: e, PublicKey: sk.PublicKey, PrivateKey: sk.PrivateKey})
		}
		for _, c := range cands {
			ids = append(ids, tail16(strings.ToUpper(hex.EncodeToString(c.PublicKey.Fingerprint))))
			if !FingerprintMatches(c.PublicKey.Fingerprint, want) {
				continue
			}
			if c.PrivateKey == nil {
				return nil, nil, fmt.Errorf("OpenPGP key %s: the file has only its public part; export it with gpg --export-secret-keys", keyID)
			}
			if c.PrivateKey.Encrypted {
				return nil, nil, fmt.Errorf("OpenPGP key %s is protected by a passphrase, which repofs cannot ask for; export an unprotected copy for signing (gpg --export-secret-keys after gpg --passwd with an empty passphrase)", keyID)
			}
			cfg := &packet.Config{}
			if c.PublicKey != e.PrimaryKey {
				cfg.SigningKeyId = c.PublicKey.KeyId
			}
			return e, cfg, nil
		}
	}
	sort.Strings(ids)
	return nil, nil, fmt.Errorf("OpenPGP key %s not found among the secret keys given (have: %s)", keyID, strings.Join(ids, ", "))
}

// SignGPG makes a binary detached signature of data, as ostree stores in
// ostree.gpgsigs.
func SignGPG(e *openpgp.Entity, cfg *packet.Config, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := openpgp.DetachSign(&buf, e, bytes.NewReader(data), cfg); err != nil {
		return nil, fmt.Errorf("OpenPGP sign: %w", err)
	}
	return buf.Bytes(), nil
}
