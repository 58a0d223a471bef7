package main

var logCommand = &command{
	name:    "log",
	summary: "Show a commit and its ancestors",
	usage:   "REV",
	help: `Prints each commit as 'ostree log' does, following parents until the
first commit or the first one that was not fetched.

Example:
  repofs --repo=repo log os/main`,
	run: runLog,
}

func runLog(e *env, args []string) error { return showCommits(e, args, true, "") }
