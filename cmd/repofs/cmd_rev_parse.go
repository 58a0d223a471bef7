package main

import (
	"bufio"
	"errors"
	"fmt"

	flag "github.com/spf13/pflag"
)

var revParseCommand = &command{
	name:    "rev-parse",
	summary: "Print the commit checksum a REV names",
	usage:   "REV… | -S/--single",
	help: `Prints the checksum of each REV, one a line, as ostree rev-parse does.

Options:
  -S, --single     print the repository's only commit object; fails when
                   there is none or more than one

Examples:
  repofs --repo=repo rev-parse os/main^
  repofs --repo=repo rev-parse origin:os/main os/main
  repofs --repo=repo rev-parse --single`,
	setup: withFlags((*revParseFlags).register, runRevParse),
}

type revParseFlags struct{ single bool }

func (f *revParseFlags) register(fs *flag.FlagSet) {
	fs.BoolVarP(&f.single, "single", "S", false, "")
}

func runRevParse(e *env, f *revParseFlags, args []string) error {
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	if f.single {
		if len(args) > 0 {
			return errors.New("Cannot specify arguments with --single")
		}
		cs, err := r.ListCommits()
		if err != nil {
			return err
		}
		switch len(cs) {
		case 0:
			return errors.New("No commit objects found")
		case 1:
			_, err = fmt.Fprintln(e.stdout, cs[0])
			return err
		}
		return errors.New("Multiple commit objects found")
	}
	if len(args) == 0 {
		return errors.New("REV must be specified")
	}
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	for _, rev := range args {
		c, err := r.ResolveRev(rev)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, c)
	}
	return w.Flush()
}
