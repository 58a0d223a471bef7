package main

import (
	"errors"
	"fmt"
	"os"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

func init() {
	register(&command{
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
		setup: func(fs *flag.FlagSet) runFunc {
			var user bool
			var subpath string
			fs.BoolVarP(&user, "user-mode", "U", false, "")
			fs.StringVar(&subpath, "subpath", "/", "")

			return func(e *env, args []string) error {
				if len(args) != 2 {
					return usagef("checkout needs a REV and a DEST")
				}
				r, root, err := e.openCommit(args[0])
				if err != nil {
					return err
				}
				n, err := r.Lookup(root, subpath)
				if err != nil {
					return fmt.Errorf("checkout --subpath=%s: %w", subpath, pathErr(err, subpath))
				}
				if _, err := os.Lstat(args[1]); err == nil {
					return fmt.Errorf("checkout: mkdirat: File exists: %s", args[1])
				} else if !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("checkout: %w", err)
				}
				return r.Checkout(e.ctx, n, args[1], repo.CheckoutOptions{User: user})
			}
		},
	})
	register(&command{
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
		setup: func(fs *flag.FlagSet) runFunc {
			var update bool
			fs.BoolVarP(&update, "update", "u", false, "")
			var sf signFlags
			sf.register(fs)
			return func(e *env, args []string) error {
				if !update || len(args) != 0 {
					return usagef("summary needs -u")
				}
				s, err := sf.load()
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
		},
	})
}
