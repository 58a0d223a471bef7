package repo

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// DiffTree is one side of a diff: a commit's tree or a directory on disk.
type DiffTree struct {
	root  Node   // a commit's root, when Dir is empty
	dir   string // a directory on disk
	local bool
}

// CommitDiffTree is the tree of a commit.
func CommitDiffTree(c *Commit) DiffTree { return DiffTree{root: RootNode(c)} }

// LocalDiffTree is the directory at dir.
func LocalDiffTree(dir string) DiffTree { return DiffTree{dir: dir, local: true} }

// DiffOptions tunes Diff.
type DiffOptions struct {
	// IgnoreXattrs leaves extended attributes out of the checksums of
	// files on disk (objects keep theirs).
	IgnoreXattrs bool
	// OwnerUID and OwnerGID, when not -1, replace the owner of the
	// target's files on disk before they are compared.
	OwnerUID, OwnerGID int
}

// DiffResult lists paths as ostree diff prints them: inside a commit as
// absolute paths, on disk relative to their side's directory; each list
// in ostree's order (depth first, a directory's files before its
// subdirectories in a commit, readdir order on disk).
type DiffResult struct {
	Modified, Removed, Added []string
}

// Diff compares two trees as ostree_diff_dirs does: an entry of a only is
// removed, of b only added (with everything below it), of both modified
// when it changed kind (directory or not) or checksum (a directory's is
// its dirmeta's), and directories of both are compared in turn; in two
// commits, directories with the same dirtree are skipped unread.
func (r *Repo) Diff(ctx context.Context, a, b DiffTree, o DiffOptions) (*DiffResult, error) {
	if (!a.local || !b.local) && (r.mode == ModeBareUserOnly || r.disableXattrs()) {
		o.IgnoreXattrs = true
	}
	d := &differ{r: r, ctx: ctx, o: o, res: &DiffResult{}}
	if err := d.dirs(d.rootNode(a), d.rootNode(b)); err != nil {
		return nil, err
	}
	return d.res, nil
}

func (r *Repo) disableXattrs() bool {
	v, _ := r.config.Bool("core", "disable-xattrs", false)
	return v
}

type differ struct {
	r   *Repo
	ctx context.Context
	o   DiffOptions
	res *DiffResult
}

// diffNode is an entry of either side.
type diffNode struct {
	name, path string // path: as printed
	isDir      bool
	node       Node // in a commit
	local      string
	st         *unix.Stat_t // on disk
}

func (d *differ) rootNode(t DiffTree) diffNode {
	if t.local {
		return diffNode{local: t.dir, isDir: true}
	}
	return diffNode{node: t.root, isDir: true, path: "/"}
}

func childPath(parent, name string) string {
	switch parent {
	case "":
		return name
	case "/":
		return "/" + name
	}
	return parent + "/" + name
}

// children lists a directory's entries in the order ostree enumerates
// them.
func (d *differ) children(n diffNode) ([]diffNode, error) {
	if n.st == nil && n.local == "" {
		t, err := d.r.ReadDir(n.node)
		if err != nil {
			return nil, err
		}
		out := make([]diffNode, 0, len(t.Files)+len(t.Dirs))
		for _, f := range t.Files {
			p := childPath(n.path, f.Name)
			out = append(out, diffNode{name: f.Name, path: p, node: Node{Path: p, Content: f.Content}})
		}
		for _, s := range t.Dirs {
			p := childPath(n.path, s.Name)
			out = append(out, diffNode{name: s.Name, path: p, isDir: true, node: Node{Path: p, IsDir: true, Tree: s.Tree, Meta: s.Meta}})
		}
		return out, nil
	}
	names, err := readdirGIO(n.local)
	if err != nil {
		return nil, err
	}
	out := make([]diffNode, 0, len(names))
	for _, name := range names {
		c, ok, err := d.lookupLocal(n, name)
		if err != nil {
			return nil, err
		}
		if ok { // else removed since it was listed
			out = append(out, c)
		}
	}
	return out, nil
}

func (d *differ) lookupLocal(n diffNode, name string) (diffNode, bool, error) {
	p := filepath.Join(n.local, name)
	st := new(unix.Stat_t)
	if err := unix.Lstat(p, st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return diffNode{}, false, nil
		}
		return diffNode{}, false, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	return diffNode{name: name, path: childPath(n.path, name), local: p, st: st, isDir: st.Mode&sIFMT == sIFDIR}, true, nil
}

// index maps the names of a commit directory's entries to them; nil for a
// directory on disk, which is looked up name by name.
func index(kids []diffNode) map[string]int {
	m := make(map[string]int, len(kids))
	for i, k := range kids {
		m[k.name] = i
	}
	return m
}

func (d *differ) lookup(n diffNode, kids []diffNode, idx map[string]int, name string) (diffNode, bool, error) {
	if n.local != "" {
		return d.lookupLocal(n, name)
	}
	if i, ok := idx[name]; ok {
		return kids[i], true, nil
	}
	return diffNode{}, false, nil
}

func (d *differ) dirs(a, b diffNode) error {
	if err := d.ctx.Err(); err != nil {
		return err
	}
	if a.local == "" && b.local == "" && a.node.Tree == b.node.Tree {
		return nil
	}
	aKids, err := d.children(a)
	if err != nil {
		return err
	}
	var bKids []diffNode
	var bIdx, aIdx map[string]int
	if b.local == "" {
		if bKids, err = d.children(b); err != nil {
			return err
		}
		bIdx = index(bKids)
	}
	for _, ca := range aKids {
		cb, ok, err := d.lookup(b, bKids, bIdx, ca.name)
		if err != nil {
			return err
		}
		if !ok {
			d.res.Removed = append(d.res.Removed, ca.path)
			continue
		}
		if ca.isDir != cb.isDir {
			d.res.Modified = append(d.res.Modified, ca.path)
			continue
		}
		sa, err := d.checksum(ca, false)
		if err != nil {
			return err
		}
		sb, err := d.checksum(cb, true)
		if err != nil {
			return err
		}
		if sa != sb {
			d.res.Modified = append(d.res.Modified, ca.path)
		}
		if ca.isDir {
			if err := d.dirs(ca, cb); err != nil {
				return err
			}
		}
	}
	if b.local != "" {
		if bKids, err = d.children(b); err != nil {
			return err
		}
	}
	if a.local == "" {
		aIdx = index(aKids)
	}
	for _, cb := range bKids {
		_, ok, err := d.lookup(a, aKids, aIdx, cb.name)
		if err != nil {
			return err
		}
		if !ok {
			if err := d.added(cb); err != nil {
				return err
			}
		}
	}
	return nil
}

// added lists n and, for a directory, everything below it.
func (d *differ) added(n diffNode) error {
	d.res.Added = append(d.res.Added, n.path)
	if !n.isDir {
		return nil
	}
	kids, err := d.children(n)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := d.added(k); err != nil {
			return err
		}
	}
	return nil
}

// checksum is an entry's object checksum: stored in a commit, computed
// for a file on disk (the owner replaced on the target side if asked).
func (d *differ) checksum(n diffNode, target bool) (Checksum, error) {
	if n.local == "" {
		if n.isDir {
			return n.node.Meta, nil
		}
		return n.node.Content, nil
	}
	st := *n.st
	if target && d.o.OwnerUID >= 0 {
		st.Uid = uint32(d.o.OwnerUID)
	}
	if target && d.o.OwnerGID >= 0 {
		st.Gid = uint32(d.o.OwnerGID)
	}
	return checksumStat(n.local, &st, d.o.IgnoreXattrs)
}

// gioChunk is how many readdir entries GLib's local file enumerator reads
// at a time and sorts by inode number (for disk locality) before handing
// them out.
const gioChunk = 1000

// readdirGIO lists a directory in the order GLib's enumerator gives:
// readdir's order without "." and "..", each run of 1000 entries sorted
// by inode number.
func readdirGIO(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type ent struct {
		ino  uint64
		name string
	}
	var all []ent
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Getdents(int(f.Fd()), buf)
		if err != nil {
			return nil, &fs.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			break
		}
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return nil, &fs.PathError{Op: "getdents", Path: dir, Err: unix.EIO}
			}
			name := b[19:reclen]
			if i := slices.Index(name, 0); i >= 0 {
				name = name[:i]
			}
			if s := string(name); s != "." && s != ".." {
				all = append(all, ent{binary.NativeEndian.Uint64(b[0:8]), s})
			}
			b = b[reclen:]
		}
	}
	names := make([]string, 0, len(all))
	for i := 0; i < len(all); i += gioChunk {
		chunk := all[i:min(i+gioChunk, len(all))]
		slices.SortStableFunc(chunk, func(a, b ent) int {
			switch {
			case a.ino < b.ino:
				return -1
			case a.ino > b.ino:
				return 1
			}
			return 0
		})
		for _, e := range chunk {
			names = append(names, e.name)
		}
	}
	return names, nil
}
