package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var checksumCommand = &command{
	name:    "checksum",
	summary: "Print the checksum a file would have as an object",
	usage:   "[--ignore-xattrs] PATH…",
	help: `Prints, one a line, the checksum 'ostree checksum' prints for each PATH
on disk: a regular file or symlink (not followed) as the content object
that would store it, a directory as its dirmeta (owner, mode, xattrs).
No repository is needed. ostree 2022.7 reads only the first PATH; repofs
prints one line for each.

Options:
  --ignore-xattrs  leave the extended attributes out of the checksum

Examples:
  repofs checksum /usr/bin/env
  repofs checksum --ignore-xattrs etc/os-release etc/hostname`,
	setup: withFlags((*checksumFlags).register, runChecksum),
}

type checksumFlags struct{ ignoreXattrs bool }

func (f *checksumFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.ignoreXattrs, "ignore-xattrs", false, "")
}

func runChecksum(e *env, f *checksumFlags, args []string) error {
	if len(args) == 0 {
		return errors.New("A filename must be given")
	}
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	for _, p := range args {
		c, err := repo.ChecksumPath(p, f.ignoreXattrs)
		if err != nil {
			return checksumErr(p, err, f.ignoreXattrs)
		}
		fmt.Fprintln(w, c)
	}
	return w.Flush()
}

// checksumErr words a failed stat as ostree does: GIO's sentence for the
// absolute path, or libglnx's "fstatat(PATH)" with --ignore-xattrs.
func checksumErr(p string, err error, ignoreXattrs bool) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "lstat" {
		return err
	}
	if ignoreXattrs {
		return fmt.Errorf("fstatat(%s): %s", p, capitalize(pe.Err.Error()))
	}
	abs, aerr := filepath.Abs(p)
	if aerr != nil {
		abs = p
	}
	return fmt.Errorf("Error when getting information for file “%s”: %s", abs, capitalize(pe.Err.Error()))
}

// capitalize gives a Go errno text the capital strerror(3) starts with.
func capitalize(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
