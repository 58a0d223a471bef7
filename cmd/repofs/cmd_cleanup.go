package main

import (
	"fmt"

	"github.com/repofs/repofs/repo"
)

var cleanupCommand = &command{
	name:    "cleanup",
	summary: "Release the space of unfinished pulls and transactions in tmp/",
	usage:   "",
	help: `Removes every fetcher-* and staging-* directory under the repository's
tmp/ that no process holds locked: the partial downloads and staged
objects that interrupted pulls and commits left for the next pull to
resume. Directories in use (a running pull, a mount's background pull,
ostree's own transaction) are never touched. Run it when a pull failed
for lack of space and the space is wanted back; the next pull then
fetches those objects again from byte 0.

Example:
  repofs --repo=repo cleanup`,
	run: runCleanup,
}

func runCleanup(e *env, args []string) error {
	if len(args) != 0 {
		return usagef("cleanup takes no arguments")
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	res, err := r.ReleaseTmp(e.ctx)
	fmt.Fprintf(e.stdout, "Removed %d unfinished directories, %s freed\n", res.Dirs, repo.FormatSize(uint64(res.Bytes)))
	if res.Busy > 0 {
		fmt.Fprintf(e.stdout, "%d directories in use left alone\n", res.Busy)
	}
	return err
}
