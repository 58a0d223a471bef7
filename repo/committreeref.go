package repo

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

// RewriteTreeInto writes the tree of a commit (its root dirtree and
// dirmeta) again, into t, each entry read from the repository and passed
// through the options as WriteDirectory passes a file on disk: ostree
// commit --tree=ref= does so whenever a commit modifier is in force (any
// option that changes entries, --generate-sizes, a bare-user-only
// repository). Every dirmeta and content object is written (and counted)
// again; the dirtrees are WriteMutableTree's.
func (tx *Transaction) RewriteTreeInto(ctx context.Context, tree, meta Checksum, t *MutableTree, o DirOptions) error {
	w := &treeWriter{tx: tx, ctx: ctx, o: o, sem: make(chan struct{}, 2*runtime.NumCPU())}
	err := w.repoDir(tree, meta, "/", t)
	if errors.Is(err, errSkipped) {
		err = fmt.Errorf("commit --tree=ref=: the filter left out the root")
	}
	return err
}

func (w *treeWriter) repoDir(tree, meta Checksum, rel string, t *MutableTree) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	r := w.tx.r
	dm, err := r.ReadDirMeta(meta)
	if err != nil {
		return err
	}
	fi, err := w.modify(&FileInfo{UID: dm.UID, GID: dm.GID, Mode: dm.Mode, Xattrs: dm.Xattrs}, rel)
	if err != nil {
		return err
	}
	mc, err := w.tx.writeDirMeta(fi, fi.Xattrs)
	if err != nil {
		return err
	}
	t.SetMeta(mc)
	dt, err := r.ReadDirTree(tree)
	if err != nil {
		return err
	}
	for _, f := range dt.Files {
		c, err := w.repoFile(f.Content, joinPath(rel, f.Name))
		if errors.Is(err, errSkipped) {
			continue
		}
		if err != nil {
			return err
		}
		if err := t.ReplaceFile(f.Name, c); err != nil {
			return fmt.Errorf("commit %s: %w", joinPath(rel, f.Name), err)
		}
	}
	for _, d := range dt.Dirs {
		_, existed := t.dirs[d.Name]
		sub, err := t.EnsureDir(d.Name)
		if err != nil {
			return fmt.Errorf("commit %s: %w", joinPath(rel, d.Name), err)
		}
		err = w.repoDir(d.Tree, d.Meta, joinPath(rel, d.Name), sub)
		if errors.Is(err, errSkipped) {
			if !existed {
				delete(t.dirs, d.Name)
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// repoFile writes the content object c again, modified by the options.
func (w *treeWriter) repoFile(c Checksum, rel string) (Checksum, error) {
	fi, rc, err := w.tx.r.OpenFile(c)
	if err != nil {
		return Checksum{}, err
	}
	defer rc.Close()
	if fi, err = w.modify(fi, rel); err != nil {
		return Checksum{}, err
	}
	out, err := w.tx.WriteContent(fi, rc, nil)
	if err != nil {
		return Checksum{}, fmt.Errorf("commit %s: %w", rel, err)
	}
	return out, nil
}
