package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/sign"
)

func init() {
	register(&command{
		name:    "remote",
		summary: "Manage remote repositories (add, list, delete, show-url, refs, summary, gpg-import)",
		usage:   "add|list|delete|show-url|refs|summary|gpg-import …",
		help: `Subcommands (the [remote "NAME"] groups of config, as ostree writes them):
  add [--no-gpg-verify] [--gpg-import=FILE] [--set=K=V]… [--if-not-exists] NAME URL [BRANCH…]
  list [-u]                 the remotes; -u with their URLs
  delete [--if-exists] NAME
  show-url NAME
  refs NAME                 the refs the remote's summary lists, as NAME:REF
  summary NAME              the remote's summary, as ostree prints it
  gpg-import NAME (-k FILE | --stdin) [KEY-ID…]
                            trust OpenPGP keys (armored or binary) for NAME;
                            they go to REPO/NAME.trustedkeys.gpg, as in ostree

Signature settings (keys of the remote's group, as in ostree):
  gpg-verify=true|false           commits need a good OpenPGP signature (default true)
  gpg-verify-summary=true|false   the summary needs a good summary.sig
  sign-verify=true|ed25519        commits need a good ed25519 signature
  sign-verify-summary=true|false  the summary needs a good ed25519 summary.sig
  verification-ed25519-key=BASE64, verification-ed25519-file=PATH  trusted ed25519 keys
  gpgkeypath=PATH[;PATH…]         more OpenPGP key files or directories

Examples:
  repofs --repo=repo remote add --no-gpg-verify origin https://example.com/repo os/main
  repofs --repo=repo remote add --gpg-import=publisher.asc os https://example.com/repo
  repofs --repo=repo remote refs origin`,
		setup: func(fs *flag.FlagSet) runFunc {
			var add pull.AddOptions
			var set []string
			var urls, ifExists, stdin bool
			var gpgImport, keyring string
			fs.BoolVar(&add.NoGPGVerify, "no-gpg-verify", false, "")
			fs.StringVar(&gpgImport, "gpg-import", "", "")
			fs.StringVarP(&keyring, "keyring", "k", "", "")
			fs.BoolVar(&stdin, "stdin", false, "")
			fs.StringArrayVar(&set, "set", nil, "")
			fs.BoolVar(&add.IfNotExists, "if-not-exists", false, "")
			fs.BoolVarP(&urls, "url", "u", false, "")
			fs.BoolVar(&ifExists, "if-exists", false, "")
			return func(e *env, args []string) error {
				if len(args) == 0 {
					return usagef("remote needs a subcommand: add, list, delete, show-url, refs, summary or gpg-import")
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
					var keys []byte
					if gpgImport != "" {
						// Read the keys first: a bad key file must not leave a
						// half-configured remote behind.
						if keys, err = os.ReadFile(gpgImport); err != nil {
							return fmt.Errorf("remote add %s: --gpg-import: %w", args[0], err)
						}
						if _, err := sign.ReadOpenPGPKeys(keys); err != nil {
							return fmt.Errorf("remote add %s: --gpg-import=%s: %w", args[0], gpgImport, err)
						}
					}
					if err := pull.AddRemote(e.ctx, r, args[0], args[1], add); err != nil {
						return err
					}
					if keys == nil {
						return nil
					}
					return importKeys(e, r, args[0], keys, nil)
				case "gpg-import":
					if err := need(1, "a NAME"); err != nil {
						return err
					}
					var keys []byte
					switch {
					case keyring != "" && !stdin:
						keys, err = os.ReadFile(keyring)
					case stdin && keyring == "":
						keys, err = io.ReadAll(e.stdin)
					default:
						return usagef("remote gpg-import needs exactly one of -k FILE and --stdin")
					}
					if err != nil {
						return fmt.Errorf("remote gpg-import %s: %w", args[0], err)
					}
					return importKeys(e, r, args[0], keys, args[1:])
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

func importKeys(e *env, r *repo.Repo, remote string, keys []byte, ids []string) error {
	n, err := pull.ImportKeys(e.ctx, r, remote, keys, ids)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Imported %d GPG key%s to remote \"%s\"\n", n, plural(n), remote)
	return nil
}

// printSummary prints a summary as `ostree remote summary` does.
func printSummary(e *env, s *repo.Summary) {
	const stamp = "2006-01-02T15:04:05-07"
	for _, ref := range s.Refs {
		fmt.Fprintf(e.stdout, "* %s\n    Latest Commit (%d bytes):\n      %s\n", ref.Name, ref.CommitSize, ref.Commit)
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
