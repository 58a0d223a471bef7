package main

import flag "github.com/spf13/pflag"

var gpgSignCommand = &command{
	name:    "gpg-sign",
	summary: "Sign a commit with OpenPGP keys",
	usage:   "--gpg-keys-file=FILE COMMIT KEY-ID…",
	help: `Adds an OpenPGP signature (ostree.gpgsigs in the commit's detached
metadata) by each KEY-ID, whose secret key is in --gpg-keys-file (written by
gpg --export-secret-keys, without a passphrase). ostree verifies these with
the public key imported for the remote (ostree remote gpg-import).

Example:
  repofs --repo=repo gpg-sign --gpg-keys-file=secret.gpg os/main 0123456789ABCDEF`,
	setup: withFlags((*gpgSignFlags).register, runGPGSign),
}

// gpgSignFlags are the OpenPGP half of signFlags; the KEY-IDs are
// arguments.
type gpgSignFlags struct{ sf signFlags }

func (f *gpgSignFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.sf.gpgFile, "gpg-keys-file", "", "")
	fs.StringVar(&f.sf.gpgHome, "gpg-homedir", "", "")
}

func runGPGSign(e *env, f *gpgSignFlags, args []string) error {
	if len(args) < 2 {
		return usagef("gpg-sign needs a COMMIT and at least one KEY-ID")
	}
	sf := f.sf
	sf.gpgKeys = args[1:]
	s, err := sf.load()
	if err != nil {
		return err
	}
	r, c, err := e.resolveRev(args[0])
	if err != nil {
		return err
	}
	return signExisting(e, r, c, s)
}
