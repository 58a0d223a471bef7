package main

import (
	"errors"

	flag "github.com/spf13/pflag"
)

var logCommand = &command{
	name:    "log",
	summary: "Show a commit and its ancestors",
	usage:   "[--raw] REV",
	help: `Prints each commit as 'ostree log' does, following parents until the
first commit or the first one that was not fetched.

Options:
  --raw    print each commit object as a GVariant

Examples:
  repofs --repo=repo log os/main
  repofs --repo=repo log --raw os/main`,
	setup: withFlags((*logFlags).register, runLog),
}

type logFlags struct{ raw bool }

func (f *logFlags) register(fs *flag.FlagSet) { fs.BoolVar(&f.raw, "raw", false, "") }

func runLog(e *env, f *logFlags, args []string) error {
	if len(args) == 0 {
		return errors.New("A rev argument is required")
	}
	return showCommits(e, args[:1], true, "", dumpFlags{raw: f.raw})
}
