package fusefs

import (
	"context"
	"slices"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/repo"
)

// dirNode is a directory of a commit's tree. Its dirtree is read once,
// when the node is made: the object never changes.
type dirNode struct {
	fs.Inode
	fs   *FS
	ci   *commitInfo
	path string
	tree *repo.DirTree
	meta *repo.DirMeta
	// ahead is what read-ahead keeps of the directory (readahead.go).
	ahead dirAhead
}

// fileNode is a regular file or a symlink of a commit's tree.
type fileNode struct {
	fs.Inode
	fs      *FS
	ci      *commitInfo
	content repo.Checksum
	fi      *repo.FileInfo
	// at is the directory read-ahead goes on in when the file is read.
	at placement
}

var (
	_ fs.NodeLookuper    = (*dirNode)(nil)
	_ fs.NodeReaddirer   = (*dirNode)(nil)
	_ fs.NodeGetattrer   = (*dirNode)(nil)
	_ fs.NodeGetxattrer  = (*dirNode)(nil) // xattrs from the dirmeta
	_ fs.NodeListxattrer = (*dirNode)(nil)
	_ fs.NodeStatfser    = (*dirNode)(nil)
	_ fs.NodeGetattrer   = (*fileNode)(nil)
	_ fs.NodeReadlinker  = (*fileNode)(nil)
	_ fs.NodeGetxattrer  = (*fileNode)(nil) // xattrs from the content object
	_ fs.NodeListxattrer = (*fileNode)(nil)
	_ fs.NodeOpener      = (*fileNode)(nil) // ENOSYS: no OPEN/RELEASE round trips, see file.go
	_ fs.NodeReader      = (*fileNode)(nil) // reads come without a handle
	_ fs.NodeFlusher     = (*fileNode)(nil) // ENOSYS: no FLUSH round trips
)

func parseChecksum(s string) (repo.Checksum, error) { return repo.ParseChecksum(s) }

func (f *FS) newDir(ci *commitInfo, path string, tree, meta repo.Checksum) (*dirNode, syscall.Errno) {
	t, err := f.dirTree(tree)
	if err != nil {
		return nil, f.errno("read directory "+path+" of commit "+ci.c.String(), err)
	}
	m, err := f.dirMeta(meta)
	if err != nil {
		return nil, f.errno("read directory "+path+" of commit "+ci.c.String(), err)
	}
	return &dirNode{fs: f, ci: ci, path: path, tree: t, meta: m}, 0
}

func (d *dirNode) stable() fs.StableAttr {
	return fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("d", d.ci.c.String(), d.path)}
}

func (d *dirNode) fill(a *fuse.Attr) {
	a.Mode = syscall.S_IFDIR | d.meta.Mode&0o7777
	a.Uid, a.Gid = d.meta.UID, d.meta.GID
	a.Nlink = uint32(2 + len(d.tree.Dirs))
	a.Size = 4096
	a.Blocks = blocks(a.Size)
	a.Ino = d.stable().Ino
	setTime(a, d.ci.commit.Timestamp)
}

func (d *dirNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fill(&out.Attr)
	out.SetTimeout(immutable)
	return 0
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return d.fs.statfs(out)
}

func childPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	out.SetEntryTimeout(immutable)
	out.SetAttrTimeout(immutable)
	if i, ok := findDir(d.tree.Dirs, name); ok {
		e := d.tree.Dirs[i]
		c, errno := d.fs.newDir(d.ci, childPath(d.path, name), e.Tree, e.Meta)
		if errno != 0 {
			return nil, errno
		}
		c.fill(&out.Attr)
		return d.NewInode(ctx, c, c.stable()), 0
	}
	i, ok := findFile(d.tree.Files, name)
	if !ok {
		return nil, syscall.ENOENT
	}
	content := d.tree.Files[i].Content
	fi, err := d.fs.stat(content)
	if err != nil {
		return nil, d.fs.errno("stat "+childPath(d.path, name)+" of commit "+d.ci.c.String(), err)
	}
	n := &fileNode{fs: d.fs, ci: d.ci, content: content, fi: fi}
	n.at.first = filePlace{d, i}
	n.fill(&out.Attr)
	return d.NewInode(ctx, n, n.stable()), 0
}

func findDir(ds []repo.DirEntry, name string) (int, bool) {
	return slices.BinarySearchFunc(ds, name, func(e repo.DirEntry, n string) int { return strings.Compare(e.Name, n) })
}

func findFile(fs []repo.FileEntry, name string) (int, bool) {
	return slices.BinarySearchFunc(fs, name, func(e repo.FileEntry, n string) int { return strings.Compare(e.Name, n) })
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	d.fs.warm(d.tree)
	d.fs.descend.listed(d.tree)
	ents := make([]fuse.DirEntry, 0, len(d.tree.Files)+len(d.tree.Dirs))
	c := d.ci.c.String()
	for _, e := range d.tree.Dirs {
		ents = append(ents, fuse.DirEntry{Name: e.Name, Mode: syscall.S_IFDIR, Ino: ino("d", c, childPath(d.path, e.Name))})
	}
	for _, e := range d.tree.Files {
		fi, err := d.fs.stat(e.Content)
		if err != nil {
			return nil, d.fs.errno("stat "+childPath(d.path, e.Name)+" of commit "+c, err)
		}
		ents = append(ents, fuse.DirEntry{Name: e.Name, Mode: fi.Mode &^ 0o7777, Ino: ino("f", c, e.Content.String())})
	}
	return &listedStream{fs.NewListDirStream(ents), d}, 0
}

// listedStream is a listing of d that tells the read strategy when it is
// done (reader.listed).
type listedStream struct {
	fs.DirStream
	d *dirNode
}

func (l *listedStream) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if sd, ok := l.DirStream.(fs.FileSeekdirer); ok {
		return sd.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

// Close runs when the listing's last READDIRPLUS is answered: the kernel
// has made the inodes of every entry by then.
func (l *listedStream) Close() {
	l.DirStream.Close()
	l.d.fs.read.listed(l.d)
}

func (d *dirNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return getxattr(d.meta.Xattrs, attr, dest)
}

func (d *dirNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return listxattr(d.meta.Xattrs, dest)
}

func (n *fileNode) stable() fs.StableAttr {
	return fs.StableAttr{Mode: n.fi.Mode &^ 0o7777, Ino: ino("f", n.ci.c.String(), n.content.String())}
}

func (n *fileNode) fill(a *fuse.Attr) {
	a.Mode = n.fi.Mode
	a.Uid, a.Gid = n.fi.UID, n.fi.GID
	a.Nlink = 1
	a.Size = n.fi.Size
	if n.fi.IsSymlink() {
		a.Size = uint64(len(n.fi.Target))
	} else {
		a.Blocks = blocks(a.Size)
	}
	a.Ino = n.stable().Ino
	a.Blksize = 4096
	setTime(a, n.ci.commit.Timestamp)
}

// blocks is st_blocks for a size: 512-byte units, rounded up, so that du
// counts what a file holds (as du --apparent-size, rounded), not zero. A
// symlink keeps 0, as short ones have on most file systems.
func blocks(size uint64) uint64 { return (size + 511) / 512 }

func (n *fileNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fill(&out.Attr)
	out.SetTimeout(immutable)
	return 0
}

func (n *fileNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if !n.fi.IsSymlink() {
		return nil, syscall.EINVAL
	}
	return []byte(n.fi.Target), 0
}

func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return getxattr(n.fi.Xattrs, attr, dest)
}

func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return listxattr(n.fi.Xattrs, dest)
}

func getxattr(xs []repo.Xattr, attr string, dest []byte) (uint32, syscall.Errno) {
	for _, x := range xs {
		if x.Name != attr {
			continue
		}
		if len(dest) == 0 {
			return uint32(len(x.Value)), 0
		}
		if len(dest) < len(x.Value) {
			return uint32(len(x.Value)), syscall.ERANGE
		}
		return uint32(copy(dest, x.Value)), 0
	}
	return 0, syscall.ENODATA
}

func listxattr(xs []repo.Xattr, dest []byte) (uint32, syscall.Errno) {
	var b []byte
	for _, x := range xs {
		b = append(b, x.Name...)
		b = append(b, 0)
	}
	if len(dest) == 0 {
		return uint32(len(b)), 0
	}
	if len(dest) < len(b) {
		return uint32(len(b)), syscall.ERANGE
	}
	return uint32(copy(dest, b)), 0
}
