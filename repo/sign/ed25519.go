package sign

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrBadSignature means signatures were found but none verifies with a
// trusted key.
var ErrBadSignature = errors.New("signature could not be verified")

// sigError words a failure as ostree does and matches its sentinel
// without repeating the sentinel's text.
type sigError struct {
	msg  string
	kind error
}

func (e *sigError) Error() string        { return e.msg }
func (e *sigError) Is(target error) bool { return target == e.kind }

func badf(format string, args ...any) error {
	return &sigError{fmt.Sprintf(format, args...), ErrBadSignature}
}

// ParseEd25519PublicKeys reads a key file in the format of ostree's
// verification-ed25519-file and trusted.ed25519: one base64-encoded 32-byte
// public key per line. As in ostree, lines that are not keys are skipped as
// long as at least one key is read.
func ParseEd25519PublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	blobs, err := parseBase64Lines(data, ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	out := make([]ed25519.PublicKey, len(blobs))
	for i, b := range blobs {
		out[i] = ed25519.PublicKey(b)
	}
	return out, nil
}

// ParseEd25519SecretKeys reads a key file in the format of ostree sign
// --keys-file: one base64-encoded 64-byte secret key (seed then public
// key, libsodium's layout) per line.
func ParseEd25519SecretKeys(data []byte) ([]ed25519.PrivateKey, error) {
	blobs, err := parseBase64Lines(data, ed25519.PrivateKeySize)
	if err != nil {
		return nil, err
	}
	out := make([]ed25519.PrivateKey, 0, len(blobs))
	for _, b := range blobs {
		k, err := ed25519SecretKey(b)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// ParseEd25519SecretKey decodes one base64 secret key, as ostree commit
// --sign=KEY takes it.
func ParseEd25519SecretKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("ed25519 secret key: not base64: %w", err)
	}
	if len(b) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("ed25519 secret key: Ill-formed input: expected %d bytes, got %d bytes", ed25519.PrivateKeySize, len(b))
	}
	return ed25519SecretKey(b)
}

// ParseEd25519PublicKey decodes one base64 public key, as the remote
// option verification-ed25519-key holds it.
func ParseEd25519PublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("ed25519 public key: not base64: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("ed25519 public key: Ill-formed input: expected %d bytes, got %d bytes", ed25519.PublicKeySize, len(b))
	}
	return ed25519.PublicKey(b), nil
}

// ed25519SecretKey checks that the public half stored in a 64-byte secret
// key matches its seed: a key file with a mismatched pair would make
// signatures nobody can verify.
func ed25519SecretKey(b []byte) (ed25519.PrivateKey, error) {
	k := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
	if !bytes.Equal(k[ed25519.SeedSize:], b[ed25519.SeedSize:]) {
		return nil, errors.New("ed25519 secret key: its public half does not match its seed")
	}
	return k, nil
}

func parseBase64Lines(data []byte, size int) ([][]byte, error) {
	var out [][]byte
	var firstErr error
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(line)
		if err == nil && len(b) != size {
			err = fmt.Errorf("Ill-formed input: expected %d bytes, got %d bytes", size, len(b))
		}
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("line %d: %w", n, err)
			}
			continue
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		if firstErr != nil {
			return nil, fmt.Errorf("no valid ed25519 keys: %w", firstErr)
		}
		return nil, errors.New("no ed25519 keys")
	}
	return out, nil
}

// Ed25519PublicKeyString is a public key as ostree's key files hold it.
func Ed25519PublicKeyString(k ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(k)
}

// Ed25519SecretKeyString is a secret key as ostree sign --keys-file and
// commit --sign take it.
func Ed25519SecretKeyString(k ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k)
}

// Ed25519Keys are the keys an ed25519 check trusts, minus revoked ones.
type Ed25519Keys struct {
	Trusted, Revoked []ed25519.PublicKey
}

// Empty reports whether no trusted key is loaded.
func (k *Ed25519Keys) Empty() bool { return k == nil || len(k.Trusted) == 0 }

// AddFile adds the keys of a file in ostree's format.
func (k *Ed25519Keys) AddFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("ed25519 keys: %w", err)
	}
	keys, err := ParseEd25519PublicKeys(data)
	if err != nil {
		return fmt.Errorf("ed25519 keys: %s: %w", path, err)
	}
	k.Trusted = append(k.Trusted, keys...)
	return nil
}

// AddSystemDirs adds the keys of ostree's well-known places under each
// base directory (/etc/ostree and /usr/share/ostree by default):
// trusted.ed25519 and trusted.ed25519.d/*, revoked.ed25519 and
// revoked.ed25519.d/*. Missing files are skipped, as ostree does.
func (k *Ed25519Keys) AddSystemDirs(bases ...string) {
	if len(bases) == 0 {
		bases = []string{"/etc/ostree", "/usr/share/ostree"}
	}
	for _, base := range bases {
		for _, kind := range []string{"trusted", "revoked"} {
			name := filepath.Join(base, kind+".ed25519")
			files := []string{name}
			if ents, err := os.ReadDir(name + ".d"); err == nil {
				for _, e := range ents {
					files = append(files, filepath.Join(name+".d", e.Name()))
				}
			}
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					continue
				}
				keys, err := ParseEd25519PublicKeys(data)
				if err != nil {
					continue
				}
				if kind == "trusted" {
					k.Trusted = append(k.Trusted, keys...)
				} else {
					k.Revoked = append(k.Revoked, keys...)
				}
			}
		}
	}
}

// SignEd25519 signs data (a commit object's or summary's bytes).
func SignEd25519(k ed25519.PrivateKey, data []byte) []byte { return ed25519.Sign(k, data) }

// VerifyEd25519 checks that at least one of sigs is a signature of data by
// a trusted, unrevoked key, and returns that key. Its errors say what
// ostree's do: no signatures, or which keys were tried.
func (k *Ed25519Keys) VerifyEd25519(data []byte, sigs [][]byte) (ed25519.PublicKey, error) {
	if len(sigs) == 0 {
		return nil, &sigError{"ed25519: no signatures found", ErrNoSignatures}
	}
	if k.Empty() {
		return nil, badf("ed25519: no trusted public keys are configured")
	}
	var tried []string
	for i, sig := range sigs {
		if len(sig) != ed25519.SignatureSize {
			return nil, badf("ed25519: invalid signature %d: Ill-formed input: expected %d bytes, got %d bytes", i, ed25519.SignatureSize, len(sig))
		}
		for _, pk := range k.Trusted {
			if k.revoked(pk) {
				continue
			}
			if ed25519.Verify(pk, data, sig) {
				return pk, nil
			}
			tried = append(tried, "key '"+hex.EncodeToString(pk)+"'")
		}
	}
	if len(tried) == 0 {
		return nil, badf("ed25519: every trusted key is revoked")
	}
	if len(tried) > 3 {
		return nil, badf("ed25519: Signature couldn't be verified; tried %d keys", len(tried))
	}
	return nil, badf("ed25519: Signature couldn't be verified with: %s", strings.Join(tried, "; "))
}

func (k *Ed25519Keys) revoked(pk ed25519.PublicKey) bool {
	for _, r := range k.Revoked {
		if bytes.Equal(r, pk) {
			return true
		}
	}
	return false
}
