package main

import (
	"errors"
	"fmt"
	"os"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var checkoutCommand = &command{
	name:    "checkout",
	summary: "Write a commit's tree to a new directory",
	usage:   "[-U] [--subpath=PATH] REV DEST",
	help: `DEST must not exist. Files never follow a symlink out of DEST: symlinks in
the commit are recreated as symlinks, never resolved.

Options:
  -U, --user-mode      no ownership, no xattrs, no setuid/setgid bits
  --subpath=PATH       check out only PATH of the commit

Example:
  repofs --repo=repo checkout -U os/main ./rootfs`,
	setup: withFlags((*checkoutFlags).register, runCheckout),
}

type checkoutFlags struct {
	user    bool
	subpath string
}

func (f *checkoutFlags) register(fs *flag.FlagSet) {
	fs.BoolVarP(&f.user, "user-mode", "U", false, "")
	fs.StringVar(&f.subpath, "subpath", "/", "")
}

func runCheckout(e *env, f *checkoutFlags, args []string) error {
	if len(args) != 2 {
		return usagef("checkout needs a REV and a DEST")
	}
	r, root, err := e.openCommit(args[0])
	if err != nil {
		return err
	}
	n, err := r.Lookup(root, f.subpath)
	if err != nil {
		return fmt.Errorf("checkout --subpath=%s: %w", f.subpath, pathErr(err, f.subpath))
	}
	if _, err := os.Lstat(args[1]); err == nil {
		return fmt.Errorf("checkout: mkdirat: File exists: %s", args[1])
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checkout: %w", err)
	}
	return r.Checkout(e.ctx, n, args[1], repo.CheckoutOptions{User: f.user})
}

var summaryCommand = &command{
	name:    "summary",
	summary: "Regenerate the summary file",
	usage:   "-u [--sign=KEY | --gpg-sign=KEY-ID …]",
	help: `Writes summary from refs/heads with the metadata keys ostree writes, so
HTTP clients (ostree or repofs) can pull from this repository. With signing
options it writes summary.sig too (clients with gpg-verify-summary or
sign-verify-summary need it); without, it removes a stale summary.sig.

Options:
` + signFlagsHelp + `

Examples:
  repofs --repo=repo summary -u
  repofs --repo=repo summary -u --gpg-sign=0123456789ABCDEF --gpg-keys-file=secret.gpg`,
	setup: withFlags((*summaryFlags).register, runSummary),
}

type summaryFlags struct {
	update bool
	sign   signFlags
}

func (f *summaryFlags) register(fs *flag.FlagSet) {
	fs.BoolVarP(&f.update, "update", "u", false, "")
	f.sign.register(fs)
}

func runSummary(e *env, f *summaryFlags, args []string) error {
	if !f.update || len(args) != 0 {
		return usagef("summary needs -u")
	}
	s, err := f.sign.load()
	if err != nil {
		return err
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	if s != nil {
		return r.UpdateSummarySigned(e.ctx, nowFunc(), s.summarySig)
	}
	return r.UpdateSummary(e.ctx, nowFunc())
}
