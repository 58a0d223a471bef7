package main

import (
	"fmt"
	"io"
	"strings"
)

// printUsage prints the global help: every command and the global options.
func printUsage(w io.Writer) {
	fmt.Fprint(w, `usage: repofs [--repo=PATH] COMMAND [OPTIONS] [ARGS]

repofs keeps OSTree repositories in OSTree's own format and shows them
through FUSE. The repository is --repo, else $REPOFS_REPO, else $OSTREE_REPO.

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Global options:
  --repo=PATH   the repository
  --version     print the version and exit
  -h, --help    this help; 'repofs COMMAND --help' for a command's

Exit codes: 0 ok, 1 error, 2 usage, 3 fsck found corruption,
4 repository locked, 130 interrupted.
`)
}

// printCommandHelp prints one command's help.
func printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: repofs [--repo=PATH] %s %s\n\n%s\n", c.name, c.usage, c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.help, "\n"))
	}
}
