package main

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
	"github.com/repofs/repofs/repo/sign"
)

// signFlags are the signing options of commit and summary -u, named as
// ostree names them.
type signFlags struct {
	keys     []string // --sign: base64 ed25519 secret keys
	keysFile string   // --sign-from-file: a file of them
	signType string   // --sign-type
	gpgKeys  []string // --gpg-sign: OpenPGP key IDs
	gpgFile  string   // --gpg-keys-file: exported secret keys
	gpgHome  string   // --gpg-homedir
}

const signFlagsHelp = `  --sign=KEY                ed25519: sign with this base64 secret key (repeatable)
  --sign-from-file=FILE     ed25519: sign with the secret keys of FILE, one
                            base64 key per line (ostree sign --keys-file format)
  --sign-type=ed25519       the signature type of --sign (only ed25519)
  --gpg-sign=KEY-ID         OpenPGP: sign with this key (repeatable)
  --gpg-keys-file=FILE      the secret keys for --gpg-sign, as written by
                            gpg --export-secret-keys (armored or binary, no
                            passphrase); --gpg-homedir=DIR reads DIR/secring.gpg`

func (sf *signFlags) register(fs *flag.FlagSet) {
	fs.StringArrayVar(&sf.keys, "sign", nil, "")
	fs.StringVar(&sf.keysFile, "sign-from-file", "", "")
	fs.StringVar(&sf.signType, "sign-type", "ed25519", "")
	fs.StringArrayVar(&sf.gpgKeys, "gpg-sign", nil, "")
	fs.StringVar(&sf.gpgFile, "gpg-keys-file", "", "")
	fs.StringVar(&sf.gpgHome, "gpg-homedir", "", "")
}

// signer holds loaded secret keys.
type signer struct {
	ed  []ed25519.PrivateKey
	gpg []gpgSigner
}

type gpgSigner struct {
	e   *openpgp.Entity
	cfg *packet.Config
}

// load reads the keys the flags name; nil when no signing was asked for.
func (sf *signFlags) load() (*signer, error) {
	s := &signer{}
	if len(sf.keys) > 0 || sf.keysFile != "" {
		if sf.signType != "ed25519" {
			return nil, usagef("--sign-type=%s: repofs signs with ed25519 only (OpenPGP: --gpg-sign)", sf.signType)
		}
	}
	for _, k := range sf.keys {
		sk, err := sign.ParseEd25519SecretKey(k)
		if err != nil {
			return nil, usagef("--sign: %v", err)
		}
		s.ed = append(s.ed, sk)
	}
	if sf.keysFile != "" {
		data, err := os.ReadFile(sf.keysFile)
		if err != nil {
			return nil, fmt.Errorf("--sign-from-file: %w", err)
		}
		sks, err := sign.ParseEd25519SecretKeys(data)
		if err != nil {
			return nil, fmt.Errorf("--sign-from-file=%s: %w", sf.keysFile, err)
		}
		s.ed = append(s.ed, sks...)
	}
	if len(sf.gpgKeys) > 0 {
		secret, err := sf.secretKeys()
		if err != nil {
			return nil, err
		}
		for _, id := range sf.gpgKeys {
			e, cfg, err := sign.FindSigningKey(secret, id)
			if err != nil {
				return nil, fmt.Errorf("--gpg-sign: %w", err)
			}
			s.gpg = append(s.gpg, gpgSigner{e, cfg})
		}
	} else if sf.gpgFile != "" || sf.gpgHome != "" {
		return nil, usagef("--gpg-keys-file and --gpg-homedir need --gpg-sign=KEY-ID")
	}
	if len(s.ed) == 0 && len(s.gpg) == 0 {
		return nil, nil
	}
	return s, nil
}

func (sf *signFlags) secretKeys() (openpgp.EntityList, error) {
	path := sf.gpgFile
	if path == "" && sf.gpgHome != "" {
		path = filepath.Join(sf.gpgHome, "secring.gpg")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("--gpg-homedir=%s: GnuPG 2 keeps secret keys inside gpg-agent, which repofs does not talk to; export the key with 'gpg --homedir %s --export-secret-keys KEY-ID > key.gpg' and pass --gpg-keys-file=key.gpg", sf.gpgHome, sf.gpgHome)
		}
	}
	if path == "" {
		return nil, usagef("--gpg-sign needs the secret key: --gpg-keys-file=FILE (from gpg --export-secret-keys)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--gpg-keys-file: %w", err)
	}
	el, err := sign.ReadOpenPGPKeys(data)
	if err != nil {
		return nil, fmt.Errorf("--gpg-keys-file=%s: %w", path, err)
	}
	return el, nil
}

// sign adds this signer's signatures of data to detached metadata md.
func (s *signer) sign(md gvariant.Metadata, data []byte) (gvariant.Metadata, error) {
	var err error
	for _, g := range s.gpg {
		sig, serr := sign.SignGPG(g.e, g.cfg, data)
		if serr != nil {
			return nil, serr
		}
		if md, err = sign.AddSignature(md, sign.KeyGPG, sig); err != nil {
			return nil, err
		}
	}
	for _, k := range s.ed {
		if md, err = sign.AddSignature(md, sign.KeyEd25519, sign.SignEd25519(k, data)); err != nil {
			return nil, err
		}
	}
	return md, nil
}

// signCommit adds signatures to commit c's detached metadata within tx.
func (s *signer) signCommit(tx *repo.Transaction, c repo.Checksum) error {
	data, md, err := readSigned(tx, c)
	if err != nil {
		return err
	}
	if md, err = s.sign(md, data); err != nil {
		return fmt.Errorf("sign commit %s: %w", c, err)
	}
	return tx.WriteCommitMeta(c, md)
}

// summarySig makes summary.sig for a summary's bytes.
func (s *signer) summarySig(summary []byte) ([]byte, error) {
	md, err := s.sign(nil, summary)
	if err != nil {
		return nil, err
	}
	return gvariant.EncodeMetadata(md), nil
}

// metaReader is a repository, or a transaction that also sees what it
// staged.
type metaReader interface {
	ReadMetadata(repo.Checksum, repo.ObjectType) ([]byte, error)
	ReadCommitMeta(repo.Checksum) (gvariant.Metadata, error)
}

// readSigned returns a commit's bytes (what its signatures sign) and its
// detached metadata (where they are; nil: none).
func readSigned(r metaReader, c repo.Checksum) ([]byte, gvariant.Metadata, error) {
	data, err := r.ReadMetadata(c, repo.ObjCommit)
	if err != nil {
		return nil, nil, err
	}
	md, err := r.ReadCommitMeta(c)
	return data, md, err
}
