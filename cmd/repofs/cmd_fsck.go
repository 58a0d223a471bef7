package main

import (
	"fmt"
	"strings"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var fsckCommand = &command{
	name:    "fsck",
	summary: "Verify every object reachable from every commit",
	usage:   "[-q] [--delete]",
	help: `Re-hashes every commit, dirtree, dirmeta and content object reachable
from every complete commit, and checks that refs point to commits that are
present. Exits 3 when something is corrupted or missing, naming each object.

Options:
  -q, --quiet   print only problems
  --delete      remove corrupted objects and mark the commits that need them
                partial, so that the next pull fetches them again

Example:
  repofs --repo=repo fsck`,
	setup: withFlags((*fsckFlags).register, runFsck),
}

type fsckFlags struct {
	quiet, delete bool
}

func (f *fsckFlags) register(fs *flag.FlagSet) {
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "")
	fs.BoolVar(&f.delete, "delete", false, "")
}

func runFsck(e *env, f *fsckFlags, args []string) error {
	if len(args) != 0 {
		return usagef("fsck takes no arguments")
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	say := func(format string, args ...any) {
		if !f.quiet {
			fmt.Fprintf(e.stdout, format, args...)
		}
	}
	say("Validating refs...\nEnumerating commits...\n")
	rep, err := r.Fsck(e.ctx, repo.FsckOptions{Delete: f.delete})
	if err != nil {
		return err
	}
	say("Verifying content integrity of %d commit objects...\n", rep.Commits)
	printFsckReport(e, rep)
	if n := len(rep.Partial); n > 0 {
		say("%d partial commits not verified\n", n)
	}
	if n := len(rep.Problems); n > 0 && f.delete {
		return &exitCodeError{exitCorrupt, fmt.Errorf("fsck found %d corrupted or missing objects, deleted the corrupted ones and marked the commits that need them partial; pull them again to repair", n)}
	} else if n > 0 {
		return &exitCodeError{exitCorrupt, fmt.Errorf("fsck found %d corrupted or missing objects; run 'repofs fsck --delete' and pull again to repair", n)}
	}
	say("object fsck of %d commits completed successfully - no errors found.\n", rep.Commits)
	return nil
}

// printFsckReport prints the problems fsck found and what --delete did,
// on stderr, in ostree's words.
func printFsckReport(e *env, rep *repo.FsckReport) {
	for _, p := range rep.Problems {
		commits := make([]string, len(p.Commits))
		for i, c := range p.Commits {
			commits[i] = c.String()
		}
		fmt.Fprintf(e.stderr, "error: In commits %s: fsck %v\n", strings.Join(commits, ", "), p.Err)
	}
	for _, d := range rep.Deleted {
		fmt.Fprintf(e.stderr, "Deleted corrupted object %s\n", d)
	}
	for _, c := range rep.MarkedPartial {
		fmt.Fprintf(e.stderr, "Marking commit as partial: %s\n", c)
	}
}
