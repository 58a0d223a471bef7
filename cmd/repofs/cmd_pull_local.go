package main

import (
	"fmt"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
)

var pullLocalCommand = &command{
	name:    "pull-local",
	summary: "Copy refs and their objects from another local repository",
	usage:   "[--untrusted] [--depth=N] SRC_REPO [REF…]",
	help: `Imports REFs (default: every ref of SRC_REPO's refs/heads) and the objects
they reach from the repository SRC_REPO, of any mode, into this one, of any
mode, in one transaction, as 'ostree pull-local' does: objects are
hardlinked where both repositories store them alike on one filesystem with
one owner, and copied (rewritten in this repository's mode) otherwise. The
refs are written to refs/heads. Prints what ostree prints.

Without --untrusted, SRC_REPO is trusted as ostree trusts it: hardlinked
objects, and files decoded from an archive repository, are not hashed
against their checksum (the rest is): an object SRC_REPO holds corrupted
is imported as it is, as with a hardlink.

Options:
  --untrusted   check every object against its checksum
  --depth=N     import N parents of each commit as well (-1: all)

Examples:
  repofs --repo=bare pull-local /srv/archive os/main
  repofs --repo=mirror pull-local --untrusted --depth=-1 /media/usb/repo`,
	setup: withFlags((*pullLocalFlags).register, runPullLocal),
}

type pullLocalFlags struct {
	untrusted bool
	depth     int
}

func (f *pullLocalFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.untrusted, "untrusted", false, "")
	fs.IntVar(&f.depth, "depth", 0, "")
}

func runPullLocal(e *env, f *pullLocalFlags, args []string) error {
	if len(args) < 1 {
		return usagef("pull-local: SRC_REPO must be specified")
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	src, err := repo.Open(args[0])
	if err != nil {
		return err
	}
	res, err := pull.PullLocal(e.ctx, r, src, pull.LocalOptions{Refs: args[1:], Depth: f.depth, Untrusted: f.untrusted})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d metadata, %d content objects imported; %s content written\n", res.Metadata, res.Content, repo.FormatSize(uint64(res.ContentBytes)))
	return nil
}
