package main

import (
	"fmt"
	"io"
	"strings"
)

// commands are every command, in the order 'repofs --help' lists them.
var commands = []*command{
	catCommand, checkoutCommand, summaryCommand, demoCommand, fsckCommand,
	logCommand, showCommand, revParseCommand, lsCommand, mountCommand,
	pullCommand, refsCommand, remoteCommand, signCommand, gpgSignCommand,
	initCommand, commitCommand,
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `usage: repofs [--repo=PATH] COMMAND [OPTIONS] [ARGS]

repofs keeps OSTree repositories in OSTree's own format and shows them
through FUSE. The repository is --repo, else $REPOFS_REPO, else $OSTREE_REPO.

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
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

func printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: repofs [--repo=PATH] %s %s\n\n%s\n", c.name, c.usage, c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.help, "\n"))
	}
}
