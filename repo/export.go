package repo

import (
	"bufio"
	"context"
	"fmt"
	"io"
)

// ExportOptions tunes ExportTar.
type ExportOptions struct {
	// Prefix is put before every path, as ostree export --prefix does:
	// glued on, no separator added ("x/" gives "x/a", "x" gives "xa").
	Prefix string
	// Mtime is every entry's modification time (ostree uses the
	// commit's timestamp).
	Mtime int64
}

// ExportTar writes the tree below dir as a GNU tar stream exactly as
// ostree export writes it through libarchive's gnutar writer: a
// directory's entry, then its files and symlinks in name order, then its
// subdirectories in name order, each recursively; owner and mode from the
// objects, no owner names, no hardlinks (a file is written whole each
// time it occurs), no extended attributes (the gnutar format has no
// place for them, so ostree writes none either), GNU 'L'/'K' records for
// names and targets over 100 bytes. It writes the two zero blocks that
// end an archive but no padding to a record size: that is the caller's.
func (r *Repo) ExportTar(ctx context.Context, w io.Writer, dir Node, o ExportOptions) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	x := &exporter{r: r, ctx: ctx, w: bw, o: o}
	if err := x.dir(dir, ""); err != nil {
		return err
	}
	if _, err := bw.Write(make([]byte, 2*tarBlock)); err != nil {
		return err
	}
	return bw.Flush()
}

type exporter struct {
	r   *Repo
	ctx context.Context
	w   *bufio.Writer
	o   ExportOptions
}

// name is the entry name of the path rel (relative to the exported root,
// "" for the root itself).
func (x *exporter) name(rel string) string {
	n := x.o.Prefix + rel
	if n == "" {
		n = "."
	}
	return n
}

func (x *exporter) dir(n Node, rel string) error {
	if err := x.ctx.Err(); err != nil {
		return err
	}
	meta, err := x.r.ReadDirMeta(n.Meta)
	if err != nil {
		return err
	}
	name := x.name(rel)
	if name[len(name)-1] != '/' {
		name += "/"
	}
	if err := x.header(tarEntry{name: name, mode: meta.Mode, uid: meta.UID, gid: meta.GID, typ: '5'}); err != nil {
		return err
	}
	t, err := x.r.ReadDir(n)
	if err != nil {
		return err
	}
	files, dirs := Children(n, t)
	for _, f := range files {
		if err := x.file(f, joinRel(rel, f.Name())); err != nil {
			return err
		}
	}
	for _, d := range dirs {
		if err := x.dir(d, joinRel(rel, d.Name())); err != nil {
			return err
		}
	}
	return nil
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func (x *exporter) file(n Node, rel string) error {
	fi, rc, err := x.r.OpenFile(n.Content)
	if err != nil {
		return err
	}
	defer rc.Close()
	e := tarEntry{name: x.name(rel), mode: fi.Mode, uid: fi.UID, gid: fi.GID, typ: '0', size: int64(fi.Size)}
	if fi.IsSymlink() {
		e.typ, e.size, e.link = '2', 0, fi.Target
	}
	if err := x.header(e); err != nil {
		return err
	}
	if e.typ != '0' {
		return nil
	}
	n2, err := io.Copy(x.w, rc)
	if err != nil {
		return fmt.Errorf("export %s: %w", n.Path, err)
	}
	if n2 != e.size {
		return fmt.Errorf("export %s: object %s has %d bytes, its header says %d", n.Path, n.Content, n2, e.size)
	}
	_, err = x.w.Write(make([]byte, padTo(e.size, tarBlock)))
	return err
}

func (x *exporter) header(e tarEntry) error {
	e.mtime = x.o.Mtime
	_, err := x.w.Write(e.encode())
	return err
}
