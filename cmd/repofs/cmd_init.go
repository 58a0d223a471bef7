package main

import (
	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var initCommand = &command{
	name:    "init",
	summary: "Create a repository",
	usage:   "[--mode=archive|bare|bare-user|bare-user-only] [--collection-id=ID]",
	help: `Creates the repository given with --repo, in OSTree's layout, readable and
writable by the ostree CLI too. The default mode is bare, as in ostree.

Options:
  --mode=MODE           archive, bare, bare-user or bare-user-only
  --collection-id=ID    the repository's collection ID, a reverse-DNS name
                        (org.example.Os), written as core.collection-id

Examples:
  repofs --repo=repo init --mode=archive
  repofs --repo=repo init --mode=archive --collection-id=org.example.Os`,
	setup: withFlags((*initFlags).register, runInit),
}

type initFlags struct {
	mode         string
	collectionID setString
}

func (f *initFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.mode, "mode", "bare", "")
	fs.Var(&f.collectionID, "collection-id", "")
}

func runInit(e *env, f *initFlags, args []string) error {
	if len(args) != 0 {
		return usagef("init takes no arguments")
	}
	if e.repoPath == "" {
		return usagef("no repository given: use --repo=PATH")
	}
	m, err := repo.ParseMode(f.mode)
	if err != nil {
		return usagef("%v", err)
	}
	if f.collectionID.set {
		if err := repo.ValidateCollectionID(f.collectionID.v); err != nil {
			return err // ostree's words; also for an empty ID
		}
	}
	_, err = repo.InitCollection(e.repoPath, m, f.collectionID.v)
	return err
}

// setString is a string option that remembers whether it was given, so
// that an explicitly empty value can be refused as ostree refuses it.
type setString struct {
	v   string
	set bool
}

func (s *setString) String() string     { return s.v }
func (s *setString) Set(v string) error { s.v, s.set = v, true; return nil }
func (s *setString) Type() string       { return "string" }
