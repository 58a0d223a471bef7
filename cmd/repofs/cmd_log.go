package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/repofs/repofs/repo"
)

func init() {
	register(&command{
		name:    "log",
		summary: "Show a commit and its ancestors",
		usage:   "REV",
		help: `Prints each commit as 'ostree log' does, following parents until the
first commit or the first one that was not fetched.

Example:
  repofs --repo=repo log os/main`,
		run: func(e *env, args []string) error { return runShow(e, args, true) },
	})
	register(&command{
		name:    "show",
		summary: "Show a commit",
		usage:   "REV",
		help: `Example:
  repofs --repo=repo show os/main^`,
		run: func(e *env, args []string) error { return runShow(e, args, false) },
	})
	register(&command{
		name:    "rev-parse",
		summary: "Print the commit checksum a REV names",
		usage:   "REV",
		help: `Example:
  repofs --repo=repo rev-parse os/main^`,
		run: func(e *env, args []string) error {
			if len(args) != 1 {
				return usagef("rev-parse needs exactly one REV")
			}
			r, err := e.openRepo()
			if err != nil {
				return err
			}
			c, err := r.ResolveRev(args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, c)
			return err
		},
	})
}

func runShow(e *env, args []string, follow bool) error {
	if len(args) != 1 {
		return usagef("needs exactly one REV")
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	c, err := r.ResolveRev(args[0])
	if err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	for first := true; ; first = false {
		commit, err := r.ReadCommit(c)
		if !first && errors.Is(err, repo.ErrNotFound) {
			io.WriteString(w, "<< History beyond this commit not fetched >>\n")
			break
		}
		if err != nil {
			return err
		}
		writeCommit(w, commit)
		if !follow || !commit.HasParent {
			break
		}
		c = commit.Parent
	}
	return w.Flush()
}

// writeCommit prints a commit exactly as ostree's dump_commit does.
func writeCommit(w io.Writer, c *repo.Commit) {
	fmt.Fprintf(w, "commit %s\n", c.Checksum)
	if c.HasParent {
		fmt.Fprintf(w, "Parent:  %s\n", c.Parent)
	}
	fmt.Fprintf(w, "ContentChecksum:  %s\n", c.ContentChecksum())
	fmt.Fprintf(w, "Date:  %s\n", c.Timestamp.Format("2006-01-02 15:04:05 +0000"))
	if v, ok := c.Version(); ok {
		fmt.Fprintf(w, "Version: %s\n", v)
	}
	if c.Subject != "" {
		io.WriteString(w, "\n")
		writeIndented(w, c.Subject)
	} else {
		io.WriteString(w, "(no subject)\n")
	}
	if c.Body != "" {
		io.WriteString(w, "\n")
		writeIndented(w, c.Body)
	}
	io.WriteString(w, "\n")
}

// writeIndented indents every line by four spaces; a final line without a
// newline gets one, as ostree's dump_indented_lines does.
func writeIndented(w io.Writer, s string) {
	for s != "" {
		line, rest, _ := strings.Cut(s, "\n")
		fmt.Fprintf(w, "    %s\n", line)
		s = rest
	}
}
