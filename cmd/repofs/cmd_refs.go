package main

import (
	"bufio"
	"fmt"
	"strings"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var refsCommand = &command{
	name:    "refs",
	summary: "List, create or delete refs",
	usage:   "[--list] [PREFIX] | --create=REF COMMIT | --delete REF…",
	help: `Lists local refs as NAME and remote-tracking refs as REMOTE:NAME, sorted.
With PREFIX, only the refs below it, the prefix cut off unless --list
(ostree 2022.7's "REMOTE:./NAME" for the prefix "REMOTE:" included).

Options:
  --list           keep the prefix in the names
  --create=REF     point the new ref REF at COMMIT (a REV)
  --force          with --create, replace an existing ref
  --delete         delete the refs given (a prefix deletes every ref below it)

Examples:
  repofs --repo=repo refs
  repofs --repo=repo refs origin:
  repofs --repo=repo refs --create=release/1.0 os/main`,
	setup: withFlags((*refsFlags).register, runRefs),
}

type refsFlags struct {
	list, delete, force bool
	create              string
}

func (f *refsFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.list, "list", false, "")
	fs.StringVar(&f.create, "create", "", "")
	fs.BoolVar(&f.force, "force", false, "")
	fs.BoolVar(&f.delete, "delete", false, "")
}

func runRefs(e *env, f *refsFlags, args []string) error {
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	switch {
	case f.create != "":
		return refsCreate(e, r, f.create, args, f.force)
	case f.delete:
		return refsDelete(e, r, args)
	}
	if len(args) > 1 {
		return usagef("refs takes at most one PREFIX")
	}
	prefix := ""
	if len(args) == 1 {
		prefix = args[0]
	}
	remoteOnly := remotePrefix(prefix)
	if len(args) == 1 && remoteOnly == "" {
		if _, _, err := repo.ParseRefspec(prefix); err != nil {
			return fmt.Errorf("Listing refs: %w", err)
		}
	}
	refs, err := r.ListRefs(prefix, f.list)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	for _, ref := range refs {
		if f.list && remoteOnly != "" && strings.HasSuffix(prefix, ":") {
			// ostree 2022.7 lists "REMOTE:" as the directory "." of
			// the remote, and says so.
			fmt.Fprintf(w, "%s:./%s\n", ref.Remote, ref.Name)
			continue
		}
		fmt.Fprintln(w, ref)
	}
	return w.Flush()
}

// remotePrefix returns REMOTE for a prefix "REMOTE:" or "REMOTE:." (every
// ref of a remote), which ostree takes apart by hand; else "".
func remotePrefix(prefix string) string {
	rem, ok := strings.CutSuffix(prefix, ":")
	if !ok {
		rem, ok = strings.CutSuffix(prefix, ":.")
	}
	if !ok || repo.ValidateRemoteName(rem) != nil {
		return ""
	}
	return rem
}

func refsCreate(e *env, r *repo.Repo, spec string, args []string, force bool) error {
	if len(args) != 1 {
		return usagef("--create=REF needs exactly one COMMIT")
	}
	remote, name, err := repo.ParseRefspec(spec)
	if err != nil {
		return err
	}
	if _, err := r.ReadRef(remote, name); err == nil && !force {
		return fmt.Errorf("--create specified but ref %s already exists", spec)
	}
	c, err := r.ResolveRev(args[0])
	if err != nil {
		return err
	}
	return r.SetRefImmediate(e.ctx, remote, name, c)
}

func refsDelete(e *env, r *repo.Repo, args []string) error {
	if len(args) == 0 {
		return usagef("--delete needs at least one REF")
	}
	for _, a := range args {
		refs, err := r.ListRefs(a, true)
		if err != nil {
			return err
		}
		if len(refs) == 0 {
			return fmt.Errorf("Refspec '%s' not found", a)
		}
		for _, ref := range refs {
			if err := r.DeleteRefImmediate(e.ctx, ref.Remote, ref.Name); err != nil {
				return err
			}
		}
	}
	return nil
}
