package repo

import (
	"errors"
	"fmt"
	"sort"

	"github.com/repofs/repofs/repo/gvariant"
)

// MutableTree is a directory being assembled from several sources (ostree
// commit's repeated --tree options): each layer's directories merge into
// the ones already there and take their metadata, its files replace
// files of the same name. WriteMutableTree writes it out.
type MutableTree struct {
	meta  *Checksum
	files map[string]Checksum
	dirs  map[string]*MutableTree
}

// NewMutableTree returns an empty tree without metadata.
func NewMutableTree() *MutableTree {
	return &MutableTree{files: map[string]Checksum{}, dirs: map[string]*MutableTree{}}
}

// SetMeta sets the directory's dirmeta.
func (t *MutableTree) SetMeta(c Checksum) { t.meta = &c }

// HasMeta reports whether the directory has metadata yet.
func (t *MutableTree) HasMeta() bool { return t.meta != nil }

// EnsureDir returns the subdirectory name, created empty if missing; a
// file of that name is an error, as in ostree.
func (t *MutableTree) EnsureDir(name string) (*MutableTree, error) {
	if _, ok := t.files[name]; ok {
		return nil, fmt.Errorf("Can't replace file with directory: %s", name)
	}
	d := t.dirs[name]
	if d == nil {
		d = NewMutableTree()
		t.dirs[name] = d
	}
	return d, nil
}

// ReplaceFile sets the file name to content c; a directory of that name
// is an error, as in ostree.
func (t *MutableTree) ReplaceFile(name string, c Checksum) error {
	if _, ok := t.dirs[name]; ok {
		return fmt.Errorf("Can't replace directory with file: %s", name)
	}
	t.files[name] = c
	return nil
}

// lookup returns the file or directory name.
func (t *MutableTree) lookup(name string) (file *Checksum, dir *MutableTree) {
	if c, ok := t.files[name]; ok {
		return &c, nil
	}
	return nil, t.dirs[name]
}

// walk returns the directory at the components, or an error naming the
// first one missing.
func (t *MutableTree) walk(components []string) (*MutableTree, error) {
	for _, c := range components {
		d := t.dirs[c]
		if d == nil {
			return nil, fmt.Errorf("No such file or directory: %s: %w", c, ErrNotFound)
		}
		t = d
	}
	return t, nil
}

// OverlayTree merges the committed tree (dirtree, dirmeta) into t, as
// ostree commit --tree=ref= does after other trees.
func (r *Repo) OverlayTree(t *MutableTree, tree, meta Checksum) error {
	dt, err := r.ReadDirTree(tree)
	if err != nil {
		return err
	}
	t.SetMeta(meta)
	for _, f := range dt.Files {
		if err := t.ReplaceFile(f.Name, f.Content); err != nil {
			return err
		}
	}
	for _, d := range dt.Dirs {
		sub, err := t.EnsureDir(d.Name)
		if err != nil {
			return err
		}
		if err := r.OverlayTree(sub, d.Tree, d.Meta); err != nil {
			return err
		}
	}
	return nil
}

// WriteMutableTree writes the dirtree objects of t and returns its root
// dirtree and dirmeta.
func (tx *Transaction) WriteMutableTree(t *MutableTree) (tree, meta Checksum, err error) {
	return tx.writeMutableTree(t, "/")
}

func (tx *Transaction) writeMutableTree(t *MutableTree, path string) (tree, meta Checksum, err error) {
	if t.meta == nil {
		if path == "/" {
			return tree, meta, fmt.Errorf("commit: the tree has no root directory entry (a tar needs a \"./\" entry or --tar-autocreate-parents)")
		}
		return tree, meta, fmt.Errorf("commit: no metadata for directory %s", path)
	}
	var dt gvariant.DirTree
	for name, c := range t.files {
		dt.Files = append(dt.Files, gvariant.TreeFile{Name: name, Checksum: clone32(c)})
	}
	for name, d := range t.dirs {
		sub, subMeta, err := tx.writeMutableTree(d, joinPath(path, name))
		if err != nil {
			return tree, meta, err
		}
		dt.Dirs = append(dt.Dirs, gvariant.TreeDir{Name: name, Tree: clone32(sub), Meta: clone32(subMeta)})
	}
	sort.Slice(dt.Files, func(i, j int) bool { return dt.Files[i].Name < dt.Files[j].Name })
	sort.Slice(dt.Dirs, func(i, j int) bool { return dt.Dirs[i].Name < dt.Dirs[j].Name })
	tree, err = tx.WriteMetadata(ObjDirTree, gvariant.EncodeDirTree(dt), nil)
	return tree, *t.meta, err
}

// KernelRelease is the VERSION of the one usr/lib/modules/VERSION
// directory holding a vmlinuz (of any type), as ostree commit --bootable
// finds it.
func (t *MutableTree) KernelRelease() (string, error) {
	mods, err := t.walk([]string{"usr", "lib", "modules"})
	if err != nil {
		return "", fmt.Errorf("Opening usr/lib/modules: %w", err)
	}
	var rel string
	for name, d := range mods.dirs {
		if _, f := d.files["vmlinuz"]; !f && d.dirs["vmlinuz"] == nil {
			continue
		}
		if rel != "" {
			return "", errors.New("Multiple kernels found in /usr/lib/modules")
		}
		rel = name
	}
	if rel == "" {
		return "", errors.New("No kernel found in /usr/lib/modules")
	}
	return rel, nil
}
