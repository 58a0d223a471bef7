package main

import (
	"encoding/hex"
	"errors"
	"fmt"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/sign"
)

var signCommand = &command{
	name:    "sign",
	summary: "Sign a commit with ed25519, or verify its ed25519 signatures",
	usage:   "[--keys-file=FILE] [--verify] COMMIT [KEY…]",
	help: `Adds an ed25519 signature (ostree.sign.ed25519 in the commit's detached
metadata) made with each secret KEY (base64, 64 bytes: seed then public key,
as ostree sign takes it) and each key of --keys-file, one per line.

With --verify, KEYs and --keys-file are base64 public keys instead; prints
which key verified a signature, or fails.

Options:
  --keys-file=FILE     the keys, one base64 key per line
  --verify             verify instead of sign
  --sign-type=ed25519  the only type (OpenPGP: repofs gpg-sign)

Examples:
  repofs --repo=repo sign --keys-file=secret.ed25519 os/main
  repofs --repo=repo sign --verify --keys-file=trusted.ed25519 os/main`,
	setup: withFlags((*signCmdFlags).register, runSign),
}

type signCmdFlags struct {
	keysFile, signType string
	verify             bool
}

func (f *signCmdFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.keysFile, "keys-file", "", "")
	fs.BoolVar(&f.verify, "verify", false, "")
	fs.StringVarP(&f.signType, "sign-type", "s", "ed25519", "")
}

func runSign(e *env, f *signCmdFlags, args []string) error {
	if len(args) < 1 {
		return usagef("sign needs a COMMIT")
	}
	if f.signType != "ed25519" {
		return usagef("--sign-type=%s: only ed25519 (OpenPGP: repofs gpg-sign)", f.signType)
	}
	if len(args) == 1 && f.keysFile == "" {
		return usagef("sign needs keys: KEY arguments or --keys-file=FILE")
	}
	r, c, err := e.resolveRev(args[0])
	if err != nil {
		return err
	}
	if f.verify {
		return verifyEd25519(e, r, c, f.keysFile, args[1:])
	}
	sf := signFlags{keys: args[1:], keysFile: f.keysFile, signType: "ed25519"}
	s, err := sf.load()
	if err != nil {
		return err
	}
	return signExisting(e, r, c, s)
}

// signExisting adds signatures to a stored commit.
func signExisting(e *env, r *repo.Repo, c repo.Checksum, s *signer) error {
	tx, err := r.Begin(e.ctx)
	if err != nil {
		return err
	}
	defer tx.Abort()
	if err := s.signCommit(tx, c); err != nil {
		return err
	}
	return tx.Commit(e.ctx)
}

func verifyEd25519(e *env, r *repo.Repo, c repo.Checksum, keysFile string, keys []string) error {
	var k sign.Ed25519Keys
	for _, s := range keys {
		pk, err := sign.ParseEd25519PublicKey(s)
		if err != nil {
			return usagef("%v", err)
		}
		k.Trusted = append(k.Trusted, pk)
	}
	if keysFile != "" {
		if err := k.AddFile(keysFile); err != nil {
			return err
		}
	}
	data, md, err := readSigned(r, c)
	if err != nil {
		return err
	}
	sigs, err := sign.Signatures(md, sign.KeyEd25519)
	if err != nil {
		return fmt.Errorf("commit %s: %w", c, err)
	}
	pk, err := k.VerifyEd25519(data, sigs)
	if errors.Is(err, sign.ErrNoSignatures) {
		return fmt.Errorf("commit %s: ed25519: no signatures found", c)
	}
	if err != nil {
		return fmt.Errorf("commit %s: %w", c, err)
	}
	_, err = fmt.Fprintf(e.stdout, "ed25519: Signature verified successfully with key '%s'\n", hex.EncodeToString(pk))
	return err
}
