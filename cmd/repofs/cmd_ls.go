package main

import (
	"bufio"
	"fmt"
	"io"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var lsCommand = &command{
	name:    "ls",
	summary: "List the contents of a commit, as 'ostree ls' does",
	usage:   "[-R] [-d] [-C] [-X] REV [PATH…]",
	help: `Options:
  -R, --recursive   list directories recursively
  -d, --dironly     list a directory itself, not its contents
  -C, --checksum    show object checksums
  -X, --xattrs      show extended attributes

REV is a ref, remote:ref, a full or unique partial commit checksum, with
any number of ^ for parents. PATH defaults to /.

Examples:
  repofs --repo=repo ls -R os/main
  repofs --repo=repo ls -C os/main^ /usr/bin`,
	setup: withFlags((*lsFlags).register, runLs),
}

type lsFlags struct {
	recursive, dirOnly, checksums, xattrs bool
}

func (f *lsFlags) register(fs *flag.FlagSet) {
	fs.BoolVarP(&f.recursive, "recursive", "R", false, "")
	fs.BoolVarP(&f.dirOnly, "dironly", "d", false, "")
	fs.BoolVarP(&f.checksums, "checksum", "C", false, "")
	fs.BoolVarP(&f.xattrs, "xattrs", "X", false, "")
}

func runLs(e *env, f *lsFlags, args []string) error {
	if len(args) < 1 {
		return usagef("ls needs a REV")
	}
	r, root, err := e.openCommit(args[0])
	if err != nil {
		return err
	}
	paths := args[1:]
	if len(paths) == 0 {
		paths = []string{"/"}
	}
	w := bufio.NewWriterSize(e.stdout, 64<<10)
	defer w.Flush()
	l := &lister{r: r, w: w, o: *f}
	for _, p := range paths {
		n, err := r.Lookup(root, p)
		if err != nil {
			return fmt.Errorf("Inspecting path '%s': %s", p, pathErr(err, p))
		}
		if err := l.list(n, true); err != nil {
			return err
		}
	}
	return w.Flush()
}

type lister struct {
	r *repo.Repo
	w io.Writer
	o lsFlags
}

// list prints n and, for a directory, its contents: files first, then
// subdirectories, each directory followed by its own listing with -R.
func (l *lister) list(n repo.Node, top bool) error {
	if err := l.line(n); err != nil {
		return err
	}
	if !n.IsDir || l.o.dirOnly || (!top && !l.o.recursive) {
		return nil
	}
	t, err := l.r.ReadDir(n)
	if err != nil {
		return err
	}
	files, dirs := repo.Children(n, t)
	for _, f := range files {
		if err := l.line(f); err != nil {
			return err
		}
	}
	for _, d := range dirs {
		if err := l.list(d, false); err != nil {
			return err
		}
	}
	return nil
}

// line prints one entry in ostree's format:
// <type><perm> <uid> <gid> <size> [<checksums> ][{ <xattrs> } ]<path>[ -> <target>]
func (l *lister) line(n repo.Node) error {
	var (
		uid, gid, mode uint32
		size           uint64
		xattrs         []repo.Xattr
		target         string
		kind           = byte('d')
	)
	if n.IsDir {
		m, err := l.r.ReadDirMeta(n.Meta)
		if err != nil {
			return err
		}
		uid, gid, mode, xattrs = m.UID, m.GID, m.Mode, m.Xattrs
	} else {
		fi, err := l.r.StatFile(n.Content)
		if err != nil {
			return err
		}
		uid, gid, mode, xattrs, size = fi.UID, fi.GID, fi.Mode, fi.Xattrs, fi.Size
		kind = '-'
		if fi.IsSymlink() {
			kind, target, size = 'l', fi.Target, 0
		}
	}
	fmt.Fprintf(l.w, "%c0%04o %d %d %6d ", kind, mode&07777, uid, gid, size)
	if l.o.checksums {
		if n.IsDir {
			fmt.Fprintf(l.w, "%s %s ", n.Tree, n.Meta)
		} else {
			fmt.Fprintf(l.w, "%s ", n.Content)
		}
	}
	if l.o.xattrs {
		fmt.Fprintf(l.w, "{ %s } ", repo.XattrsText(xattrs))
	}
	io.WriteString(l.w, n.Path)
	if target != "" {
		io.WriteString(l.w, " -> "+target)
	}
	_, err := io.WriteString(l.w, "\n")
	return err
}
