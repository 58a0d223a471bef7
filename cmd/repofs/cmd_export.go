package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var exportCommand = &command{
	name:    "export",
	summary: "Write a commit's tree as a tar archive",
	usage:   "[--output=FILE] [--subpath=PATH] [--prefix=PREFIX] [--no-xattrs] COMMIT",
	help: `Writes the tree of COMMIT (any REV) as a GNU tar archive, byte for byte
what 'ostree export' writes: every entry with its owner and mode from the
commit and the commit's time as its mtime, hardlinks written out whole,
no extended attributes (the GNU tar format ostree uses has no place for
them). To standard output unless --output is given; the archive is
padded to a 10240-byte record unless it goes to a regular file.

Options:
  -o, --output=FILE   write to FILE ("-" means standard output)
  --subpath=PATH      export only the directory PATH of the commit
  --prefix=PREFIX     put PREFIX before every name, as it is ("dir/"
                      gives "dir/etc", "dir" gives "diretc")
  --no-xattrs         accepted for ostree's sake; nothing changes

Examples:
  repofs --repo=repo export os/main > rootfs.tar
  repofs --repo=repo export --subpath=/etc --prefix=etc/ -o etc.tar os/main
  repofs --repo=repo export os/main | tar -C rootfs -xf -`,
	setup: withFlags((*exportFlags).register, runExport),
}

type exportFlags struct {
	output, subpath, prefix string
	noXattrs                bool
}

func (f *exportFlags) register(fs *flag.FlagSet) {
	fs.StringVarP(&f.output, "output", "o", "", "")
	fs.StringVar(&f.subpath, "subpath", "", "")
	fs.StringVar(&f.prefix, "prefix", "", "")
	fs.BoolVar(&f.noXattrs, "no-xattrs", false, "")
}

// tarRecord is libarchive's default record size, to which an archive not
// written to a regular file is padded.
const tarRecord = 10240

func runExport(e *env, f *exportFlags, args []string) (err error) {
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return errors.New("A COMMIT argument is required")
	}
	var w io.Writer = e.stdout
	pad := true
	if f.output != "" && f.output != "-" {
		out, err := os.OpenFile(f.output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
		if err != nil {
			return fmt.Errorf("Failed to open '%s'", f.output)
		}
		defer func() {
			if cerr := out.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("write %s: %w", f.output, cerr)
			}
		}()
		if st, err := out.Stat(); err == nil && st.Mode().IsRegular() {
			pad = false
		}
		w = out
	}
	cw := &countWriter{w: w}
	err = exportTree(e, r, cw, args[0], f)
	if err != nil && cw.n == 0 {
		// As ostree, whose archive is open by now: an empty one.
		cw.Write(make([]byte, 2*512))
	}
	if pad {
		if _, werr := cw.Write(make([]byte, (tarRecord-cw.n%tarRecord)%tarRecord)); err == nil {
			err = werr
		}
	}
	return err
}

// exportTree writes the tar stream of the tree (or --subpath of it) of
// the commit rev names.
func exportTree(e *env, r *repo.Repo, w io.Writer, rev string, f *exportFlags) error {
	c, err := r.ResolveRev(rev)
	if err != nil {
		return err
	}
	commit, err := r.ReadCommit(c)
	if err != nil {
		return err
	}
	root := repo.RootNode(commit)
	if f.subpath != "" {
		if root, err = r.Lookup(root, f.subpath); err != nil {
			return pathErr(err, "/"+trimSlashes(f.subpath))
		}
		if !root.IsDir {
			return fmt.Errorf("export --subpath=%s: not a directory", f.subpath)
		}
	}
	return r.ExportTar(e.ctx, w, root, repo.ExportOptions{Prefix: f.prefix, Mtime: commit.Timestamp.Unix()})
}

func trimSlashes(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	return p
}

// countWriter counts what passes through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
