package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var diffCommand = &command{
	name:    "diff",
	summary: "Compare two commits, or a commit and a directory",
	usage:   "[--stats] [--fs-diff] [--no-xattrs] [--owner-uid=UID] [--owner-gid=GID] REV_OR_DIR [REV_OR_DIR]",
	help: `Prints what changed from the first tree to the second as ostree diff
does: "M    PATH" for each entry modified (content, mode, owner, xattrs or
kind), then "D    PATH" for each removed, then "A    PATH" for each added
(a new directory with everything below it). An argument starting with
"/" or "./" is a directory on disk, anything else a REV. With one
argument, compares REV^ with REV. Paths in a commit print absolute,
paths on disk relative to their directory.

Options:
  --fs-diff          print the file differences (the default)
  --stats            print the object counts of both commits and what
                     they share (after the file differences with --fs-diff)
  --no-xattrs        leave extended attributes of files on disk out
  --owner-uid=UID    take the second tree's files on disk as owned by UID
  --owner-gid=GID    take the second tree's files on disk as owned by GID

Examples:
  repofs --repo=repo diff os/main
  repofs --repo=repo diff os/main^^ os/main
  repofs --repo=repo diff --owner-uid=0 --owner-gid=0 os/main ./rootfs
  repofs --repo=repo diff --stats os/main^ os/main`,
	setup: withFlags((*diffFlags).register, runDiff),
}

type diffFlags struct {
	stats, fsDiff, noXattrs bool
	ownerUID, ownerGID      int
}

func (f *diffFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.stats, "stats", false, "")
	fs.BoolVar(&f.fsDiff, "fs-diff", false, "")
	fs.BoolVar(&f.noXattrs, "no-xattrs", false, "")
	fs.IntVar(&f.ownerUID, "owner-uid", -1, "")
	fs.IntVar(&f.ownerGID, "owner-gid", -1, "")
}

func runDiff(e *env, f *diffFlags, args []string) error {
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return errors.New("REV must be specified")
	}
	src, target := args[0]+"^", args[0]
	if len(args) > 1 {
		src, target = args[0], args[1]
	}
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	if f.fsDiff || !f.stats {
		if err := fsDiff(e, r, w, src, target, f); err != nil {
			return err
		}
	}
	if f.stats {
		if err := diffStats(e, r, w, src, target); err != nil {
			return err
		}
	}
	return w.Flush()
}

// diffSide is a directory for an argument starting with / or ./, else
// the tree of the commit the REV names.
func diffSide(r *repo.Repo, arg string) (repo.DiffTree, error) {
	if isLocalSide(arg) {
		return repo.LocalDiffTree(arg), nil
	}
	c, err := r.ResolveRev(arg)
	if err != nil {
		return repo.DiffTree{}, err
	}
	commit, err := r.ReadCommit(c)
	if err != nil {
		return repo.DiffTree{}, err
	}
	return repo.CommitDiffTree(commit), nil
}

// isLocalSide says whether ostree diff takes arg as a directory.
func isLocalSide(arg string) bool { return strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, "./") }

func fsDiff(e *env, r *repo.Repo, w io.Writer, src, target string, f *diffFlags) error {
	a, err := diffSide(r, src)
	if err != nil {
		return err
	}
	b, err := diffSide(r, target)
	if err != nil {
		return err
	}
	for _, p := range []string{src, target} {
		if isLocalSide(p) {
			if _, err := os.Lstat(p); err != nil {
				return checksumErr(p, &fs.PathError{Op: "lstat", Path: p, Err: errors.Unwrap(err)}, false)
			}
		}
	}
	res, err := r.Diff(e.ctx, a, b, repo.DiffOptions{IgnoreXattrs: f.noXattrs, OwnerUID: f.ownerUID, OwnerGID: f.ownerGID})
	if err != nil {
		return err
	}
	for _, l := range []struct {
		mark  byte
		paths []string
	}{{'M', res.Modified}, {'D', res.Removed}, {'A', res.Added}} {
		for _, p := range l.paths {
			fmt.Fprintf(w, "%c    %s\n", l.mark, p)
		}
	}
	return nil
}

func diffStats(e *env, r *repo.Repo, w io.Writer, src, target string) error {
	a, err := r.ResolveRev(src)
	if err != nil {
		return err
	}
	b, err := r.ResolveRev(target)
	if err != nil {
		return err
	}
	s, err := r.CompareCommits(e.ctx, a, b)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "[A] Object Count: %d\n[B] Object Count: %d\n", s.ObjectsA, s.ObjectsB)
	fmt.Fprintf(w, "Common Object Count: %d\nCommon Object Size: %s\n", s.Common, repo.FormatSize(uint64(s.CommonSize)))
	return nil
}
