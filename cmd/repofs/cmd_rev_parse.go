package main

import "fmt"

var revParseCommand = &command{
	name:    "rev-parse",
	summary: "Print the commit checksum a REV names",
	usage:   "REV",
	help: `Example:
  repofs --repo=repo rev-parse os/main^`,
	run: runRevParse,
}

func runRevParse(e *env, args []string) error {
	if len(args) != 1 {
		return usagef("rev-parse needs exactly one REV")
	}
	_, c, err := e.resolveRev(args[0])
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, c)
	return err
}
