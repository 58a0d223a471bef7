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
		usage:   "-u",
		help: `Writes summary from refs/heads with the metadata keys ostree writes, so
HTTP clients (ostree or repofs) can pull from this repository.

Example:
  repofs --repo=repo summary -u`,
		setup: func(fs *flag.FlagSet) runFunc {
			var update bool
			fs.BoolVarP(&update, "update", "u", false, "")
			return func(e *env, args []string) error {
				if !update || len(args) != 0 {
					return usagef("summary needs -u")
				}
				r, err := e.openRepo()
				if err != nil {
					return err
				}
				return r.UpdateSummary(e.ctx, nowFunc())
			}
		},
	})
}
