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
	usage:   "[-U] [--subpath=PATH] [--disable-cache] [--fsync=POLICY] REV DEST",
	help: `DEST must not exist. Files never follow a symlink out of DEST: symlinks in
the commit are recreated as symlinks, never resolved.

Options:
  -U, --user-mode      no ownership, no xattrs, no setuid/setgid bits
  --subpath=PATH       check out only PATH of the commit
  --disable-cache      with -U from an archive repository: neither use nor
                       fill repo/uncompressed-objects-cache, shared with
                       ostree, whose entries later -U checkouts hardlink
                       (each verified against its object before that)
  --fsync=POLICY       false: do not flush new cache entries to disk before
                       adding them (default true, or core.fsync)

Example:
  repofs --repo=repo checkout -U os/main ./rootfs`,
	setup: withFlags((*checkoutFlags).register, runCheckout),
}

type checkoutFlags struct {
	user         bool
	subpath      string
	disableCache bool
	fsync        string
}

func (f *checkoutFlags) register(fs *flag.FlagSet) {
	fs.BoolVarP(&f.user, "user-mode", "U", false, "")
	fs.StringVar(&f.subpath, "subpath", "/", "")
	fs.BoolVar(&f.disableCache, "disable-cache", false, "")
	fs.StringVar(&f.fsync, "fsync", "true", "")
}

func runCheckout(e *env, f *checkoutFlags, args []string) error {
	if len(args) != 2 {
		return usagef("checkout needs a REV and a DEST")
	}
	fsync, ok := repo.ParseBool(f.fsync)
	if !ok {
		return usagef("checkout --fsync=%s: not a boolean (true or false)", f.fsync)
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
	return r.Checkout(e.ctx, n, args[1], repo.CheckoutOptions{User: f.user, DisableCache: f.disableCache, NoFsync: !fsync})
}
