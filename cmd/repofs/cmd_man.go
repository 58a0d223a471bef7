package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

var manCommand = &command{
	name:    "man",
	summary: "Print the manual page (roff), made from the help texts",
	usage:   "",
	help: `Prints repofs(1) in roff: the global help and every command's help.

Examples:
  repofs man | man -l -
  repofs man > /usr/local/share/man/man1/repofs.1`,
}

// The command reads the table of commands that lists it: its run is set
// at init to break the initialization cycle.
func init() { manCommand.run = runMan }

func runMan(e *env, args []string) error {
	if len(args) != 0 {
		return usagef("man takes no arguments")
	}
	writeMan(e.stdout)
	return nil
}

// writeMan writes the manual page: the help texts, preformatted, under
// the usual sections.
func writeMan(w io.Writer) {
	var usage bytes.Buffer
	printUsage(&usage)
	fmt.Fprintf(w, ".TH REPOFS 1 \"\" \"repofs %s\" \"User Commands\"\n", version)
	fmt.Fprint(w, ".SH NAME\nrepofs \\- keep OSTree repositories and show them through FUSE\n")
	fmt.Fprint(w, ".SH SYNOPSIS\n.B repofs\n[\\-\\-repo=PATH] COMMAND [OPTIONS] [ARGS]\n")
	fmt.Fprint(w, ".SH DESCRIPTION\n")
	manBlock(w, usage.String())
	fmt.Fprint(w, ".SH COMMANDS\n")
	for _, c := range commands {
		fmt.Fprintf(w, ".SS %s\n", roffEscape(strings.TrimSpace("repofs "+c.name+" "+c.usage)))
		fmt.Fprintf(w, "%s\n", roffEscape(c.summary))
		if c.help != "" {
			manBlock(w, c.help)
		}
	}
	fmt.Fprint(w, ".SH SEE ALSO\n.BR ostree (1),\n.BR mount.fuse3 (8),\n.BR systemd.service (5)\n")
}

// manBlock writes text as it is, in a no-fill block.
func manBlock(w io.Writer, text string) {
	fmt.Fprint(w, ".PP\n.nf\n")
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintln(w, roffEscape(line))
	}
	fmt.Fprint(w, ".fi\n")
}

// roffEscape keeps a line literal: backslashes and hyphens escaped, and a
// line starting with a control character guarded, and non-ASCII
// characters named.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	var b strings.Builder
	for _, r := range s {
		if r > 127 {
			fmt.Fprintf(&b, `\[u%04X]`, r) // groff's named Unicode character
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
