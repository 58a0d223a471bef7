package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var refsCommand = &command{
	name:    "refs",
	summary: "List, create or delete refs",
	usage:   "[--list] [PREFIX] | --alias [PREFIX] | --create=REF COMMIT | --alias --create=ALIAS REF | --delete REF…",
	help: `Lists local refs as NAME and remote-tracking refs as REMOTE:NAME, sorted.
With PREFIX, only the refs below it, the prefix cut off unless --list
(ostree 2022.7's "REMOTE:./NAME" for the prefix "REMOTE:" included).

An alias is a local ref that names another ref rather than a commit (a
relative symbolic link in refs/heads, as ostree writes it): it resolves to
that ref's commit wherever a ref is read (rev-parse, log, show, checkout,
the mount), and follows it as it moves. Refs are listed with their
aliases; --alias lists the aliases alone as "ALIAS -> REF" (with a PREFIX
naming a ref, that ref and its commit). A ref an alias names cannot be
deleted until the alias is.

Options:
  --list           keep the prefix in the names
  --create=REF     point the new ref REF at COMMIT (a REV)
  -A, --alias      with --create, make REF an alias of the local ref given
                   (an existing alias is replaced); else list aliases
  --force          with --create, replace an existing ref
  --delete         delete the refs given (a prefix deletes every ref below it)

Examples:
  repofs --repo=repo refs
  repofs --repo=repo refs origin:
  repofs --repo=repo refs --create=release/1.0 os/main
  repofs --repo=repo refs --alias --create=stable os/main
  repofs --repo=repo refs --alias`,
	setup: withFlags((*refsFlags).register, runRefs),
}

type refsFlags struct {
	list, delete, force, alias bool
	create                     string
}

func (f *refsFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.list, "list", false, "")
	fs.StringVar(&f.create, "create", "", "")
	fs.BoolVar(&f.force, "force", false, "")
	fs.BoolVar(&f.delete, "delete", false, "")
	fs.BoolVarP(&f.alias, "alias", "A", false, "")
}

func runRefs(e *env, f *refsFlags, args []string) error {
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	switch {
	case f.create != "" && len(args) == 0:
		return errors.New("You must specify a revision when creating a new ref")
	case f.create != "" && len(args) > 1:
		return errors.New("You must specify only 1 existing ref when creating a new ref")
	case f.create != "" && f.alias:
		return refsAlias(e, r, f.create, args[0], f.force)
	case f.create != "":
		return refsCreate(e, r, f.create, args, f.force)
	case f.delete:
		return refsDelete(e, r, args, f.alias)
	}
	if len(args) > 1 {
		return usagef("refs takes at most one PREFIX")
	}
	prefix := ""
	if len(args) == 1 {
		prefix = args[0]
	}
	if f.alias {
		return listAliases(e, r, prefix)
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
	// ostree 2022.7 lists "REMOTE:" with --list as the directory "."
	// of the remote, and says so.
	dot := f.list && remoteOnly != "" && strings.HasSuffix(prefix, ":")
	w := bufio.NewWriterSize(e.stdout, 64<<10)
	for _, ref := range refs {
		if ref.Remote != "" {
			w.WriteString(ref.Remote)
			w.WriteByte(':')
			if dot {
				w.WriteString("./")
			}
		}
		w.WriteString(ref.Name)
		w.WriteByte('\n')
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

// refsDelete deletes the refs below each prefix (with aliasesOnly, the
// aliases), refusing one an alias names, as ostree does.
func refsDelete(e *env, r *repo.Repo, args []string, aliasesOnly bool) error {
	if len(args) == 0 {
		return usagef("--delete needs at least one REF")
	}
	aliases, err := r.ListRefAliases("")
	if err != nil {
		return err
	}
	for _, a := range args {
		var refs []repo.Ref
		if aliasesOnly {
			al, err := r.ListRefAliases(a)
			if err != nil {
				return err
			}
			for _, x := range al {
				refs = append(refs, repo.Ref{Name: x.Name})
			}
		} else if refs, err = r.ListRefs(a, true); err != nil {
			return err
		}
		if len(refs) == 0 && !aliasesOnly {
			return fmt.Errorf("Refspec '%s' not found", a)
		}
		for _, ref := range refs {
			for _, al := range aliases {
				if al.Target == ref.Name {
					return fmt.Errorf("Ref '%s' has an active alias: '%s'", ref.Name, al.Name)
				}
			}
			if err := r.DeleteRefImmediate(e.ctx, ref.Remote, ref.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// listAliases prints "ALIAS -> REF" for the aliases below prefix.
func listAliases(e *env, r *repo.Repo, prefix string) error {
	aliases, err := r.ListRefAliases(prefix)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	for _, a := range aliases {
		fmt.Fprintf(w, "%s -> %s\n", a.Name, a.Target)
	}
	return w.Flush()
}

// refsAlias makes spec an alias of the ref target, with ostree's checks
// in ostree's order: spec must not be a ref unless it is an alias already
// (or force), must be local, and target must be a ref.
func refsAlias(e *env, r *repo.Repo, spec, target string, force bool) error {
	// ostree lists every ref first: a loop of aliases fails here.
	refs, err := r.ListRefs("", false)
	if err != nil {
		return err
	}
	remote, name, err := repo.ParseRefspec(spec)
	if err != nil {
		return err
	}
	_, err = r.ReadRef(remote, name)
	exists := err == nil
	if err != nil && !errors.Is(err, repo.ErrNotFound) {
		return err
	}
	isAlias := false
	if remote == "" {
		if isAlias, err = r.IsRefAlias(name); err != nil {
			return err
		}
	}
	if exists && !isAlias && !force {
		return fmt.Errorf("--create specified but ref %s already exists", spec)
	}
	if remote != "" {
		return fmt.Errorf("Cannot create alias to remote ref: %s", remote)
	}
	found := false
	for _, ref := range refs {
		if ref.String() == target {
			found = true
			break
		}
	}
	if !found {
		return fmt.Errorf("Cannot create alias to non-existent ref: %s", target)
	}
	if strings.Contains(target, ":") {
		// ostree 2022.7 writes a link no ref reading can follow, which
		// breaks every listing; refuse it instead.
		return fmt.Errorf("Cannot create alias to remote ref: %s", target)
	}
	return r.SetRefAliasImmediate(e.ctx, name, target)
}
