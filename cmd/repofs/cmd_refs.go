package main

import (
	"bufio"
	"fmt"

	flag "github.com/spf13/pflag"
)

func init() {
	var list bool
	register(&command{
		name:    "refs",
		summary: "List refs",
		usage:   "[--list] [PREFIX]",
		help: `Lists local refs as NAME and remote-tracking refs as REMOTE:NAME, sorted.
With PREFIX, only the refs below it, the prefix cut off unless --list.

Options:
  --list   keep the prefix in the names

Examples:
  repofs --repo=repo refs
  repofs --repo=repo refs origin:`,
		flags: func(fs *flag.FlagSet) { fs.BoolVar(&list, "list", false, "") },
		run: func(e *env, args []string) error {
			if len(args) > 1 {
				return usagef("refs takes at most one PREFIX")
			}
			r, err := e.openRepo()
			if err != nil {
				return err
			}
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			refs, err := r.ListRefs(prefix, list)
			if err != nil {
				return err
			}
			w := bufio.NewWriter(e.stdout)
			for _, ref := range refs {
				fmt.Fprintln(w, ref)
			}
			return w.Flush()
		},
	})
}
