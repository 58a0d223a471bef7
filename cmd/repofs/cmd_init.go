package main

import (
	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var initCommand = &command{
	name:    "init",
	summary: "Create a repository",
	usage:   "[--mode=archive|bare|bare-user|bare-user-only]",
	help: `Creates the repository given with --repo, in OSTree's layout, readable and
writable by the ostree CLI too. The default mode is bare, as in ostree.

Example:
  repofs --repo=repo init --mode=archive`,
	setup: withFlags((*initFlags).register, runInit),
}

type initFlags struct{ mode string }

func (f *initFlags) register(fs *flag.FlagSet) { fs.StringVar(&f.mode, "mode", "bare", "") }

func runInit(e *env, f *initFlags, args []string) error {
	if len(args) != 0 {
		return usagef("init takes no arguments")
	}
	if e.repoPath == "" {
		return usagef("no repository given: use --repo=PATH")
	}
	m, err := repo.ParseMode(f.mode)
	if err != nil {
		return usagef("%v", err)
	}
	_, err = repo.Init(e.repoPath, m)
	return err
}
