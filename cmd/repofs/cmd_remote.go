package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
)

func init() {
	register(&command{
		name:    "remote",
		summary: "Manage remote repositories (add, list, delete, show-url, refs, summary)",
		usage:   "add|list|delete|show-url|refs|summary …",
		help: `Subcommands (the [remote "NAME"] groups of config, as ostree writes them):
  add [--no-gpg-verify] [--set=K=V]… [--if-not-exists] NAME URL [BRANCH…]
  list [-u]                 the remotes; -u with their URLs
  delete [--if-exists] NAME
  show-url NAME
  refs NAME                 the refs the remote's summary lists, as NAME:REF
  summary NAME              the remote's summary, as ostree prints it

Examples:
  repofs --repo=repo remote add --no-gpg-verify origin https://example.com/repo os/main
  repofs --repo=repo remote refs origin`,
		setup: func(fs *flag.FlagSet) runFunc {
			var add pull.AddOptions
			var set []string
			var urls, ifExists bool
			fs.BoolVar(&add.NoGPGVerify, "no-gpg-verify", false, "")
			fs.StringArrayVar(&set, "set", nil, "")
			fs.BoolVar(&add.IfNotExists, "if-not-exists", false, "")
			fs.BoolVarP(&urls, "url", "u", false, "")
			fs.BoolVar(&ifExists, "if-exists", false, "")
			return func(e *env, args []string) error {
				if len(args) == 0 {
					return usagef("remote needs a subcommand: add, list, delete, show-url, refs or summary")
				}
				r, err := e.openRepo()
				if err != nil {
					return err
				}
				sub, args := args[0], args[1:]
				need := func(n int, what string) error {
					if len(args) < n {
						return usagef("remote %s needs %s", sub, what)
					}
					return nil
				}
				switch sub {
				case "add":
					if err := need(2, "a NAME and a URL"); err != nil {
						return err
					}
					for _, kv := range set {
						k, v, ok := strings.Cut(kv, "=")
						if !ok || k == "" {
							return usagef("--set=%s: want KEY=VALUE", kv)
						}
						add.Set = append(add.Set, repo.ConfigKey{Key: k, Value: v})
					}
					add.Branches = args[2:]
					return pull.AddRemote(e.ctx, r, args[0], args[1], add)
				case "list":
					rms, err := pull.ListRemotes(r)
					if err != nil {
						return err
					}
					sort.Slice(rms, func(i, j int) bool { return rms[i].Name < rms[j].Name })
					width := 0 // ostree pads names to the longest
					for _, rm := range rms {
						width = max(width, len(rm.Name))
					}
					for _, rm := range rms {
						if urls {
							fmt.Fprintf(e.stdout, "%-*s  %s\n", width, rm.Name, rm.URL)
						} else {
							fmt.Fprintln(e.stdout, rm.Name)
						}
					}
					return nil
				case "delete":
					if err := need(1, "a NAME"); err != nil {
						return err
					}
					return pull.DeleteRemote(e.ctx, r, args[0], ifExists)
				case "show-url":
					if err := need(1, "a NAME"); err != nil {
						return err
					}
					rm, err := pull.ReadRemote(r, args[0])
					if err != nil {
						return err
					}
					fmt.Fprintln(e.stdout, rm.URL)
					return nil
				case "refs", "summary":
					if err := need(1, "a NAME"); err != nil {
						return err
					}
					s, err := pull.FetchSummary(e.ctx, r, args[0])
					if err != nil {
						return err
					}
					if sub == "refs" {
						names := make([]string, 0, len(s.Refs))
						for _, ref := range s.Refs {
							names = append(names, ref.Name)
						}
						sort.Strings(names)
						for _, n := range names {
							fmt.Fprintf(e.stdout, "%s:%s\n", args[0], n)
						}
						return nil
					}
					printSummary(e, s)
					return nil
				}
				return usagef("unknown remote subcommand %q", sub)
			}
		},
	})
}

// printSummary prints a summary as `ostree remote summary` does.
func printSummary(e *env, s *gvariant.Summary) {
	const stamp = "2006-01-02T15:04:05-07"
	for _, ref := range s.Refs {
		fmt.Fprintf(e.stdout, "* %s\n    Latest Commit (%d bytes):\n      %x\n", ref.Name, ref.CommitSize, ref.Checksum)
		for _, m := range ref.Metadata {
			switch m.Key {
			case "ostree.commit.timestamp":
				if ts, err := m.Value.Uint64BE(); err == nil {
					fmt.Fprintf(e.stdout, "    Timestamp (%s): %s\n", m.Key, time.Unix(int64(ts), 0).UTC().Format(stamp))
					continue
				}
			case "ostree.commit.version":
				if v, err := m.Value.String(); err == nil {
					fmt.Fprintf(e.stdout, "    Version (%s): %s\n", m.Key, v)
					continue
				}
			}
			fmt.Fprintf(e.stdout, "    %s: %s\n", m.Key, m.Value.Print())
		}
		fmt.Fprintln(e.stdout)
	}
	for _, m := range s.Metadata {
		switch m.Key {
		case "ostree.summary.mode":
			v, _ := m.Value.String()
			fmt.Fprintf(e.stdout, "Repository Mode (%s): %s\n", m.Key, v)
		case "ostree.summary.last-modified":
			if ts, err := m.Value.Uint64BE(); err == nil {
				fmt.Fprintf(e.stdout, "Last-Modified (%s): %s\n", m.Key, time.Unix(int64(ts), 0).UTC().Format(stamp))
			}
		case "ostree.summary.tombstone-commits":
			yes := "No"
			if m.Value.Print() == "true" {
				yes = "Yes"
			}
			fmt.Fprintf(e.stdout, "Has Tombstone Commits (%s): %s\n", m.Key, yes)
		default:
			fmt.Fprintf(e.stdout, "%s: %s\n", m.Key, m.Value.Print())
		}
	}
}
