package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// rootNode holds commits/; refs/, the other fixed directory, is served
// apart (rawRefs).
type rootNode struct {
	fs.Inode
	fs *FS
}

var (
	_ fs.NodeOnAdder   = (*rootNode)(nil) // creates commits/
	_ fs.NodeGetattrer = (*rootNode)(nil)
	_ fs.NodeStatfser  = (*rootNode)(nil) // df on the mountpoint
	_ fs.NodeGetattrer = (*commitsNode)(nil)
	_ fs.NodeLookuper  = (*commitsNode)(nil) // any complete commit by checksum
	_ fs.NodeReaddirer = (*commitsNode)(nil) // lists complete commits
	_ fs.NodeStatfser  = (*commitsNode)(nil)
)

func (n *rootNode) OnAdd(ctx context.Context) {
	commits := n.NewPersistentInode(ctx, &commitsNode{fs: n.fs}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: commitsIno})
	n.AddChild("commits", commits, false)
}

func (n *rootNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fs.dirAttr(&out.Attr, 4)
	return 0
}

func (n *rootNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return n.fs.statfs(out)
}

// dirAttr fills the attributes of a synthetic directory.
func (f *FS) dirAttr(a *fuse.Attr, nlink uint32) {
	a.Mode = syscall.S_IFDIR | 0o755
	a.Nlink = nlink
	setTime(a, f.mounted)
}

// commitsNode is commits/: a lookup of any complete commit's checksum
// succeeds, whether or not a ref points to it.
type commitsNode struct {
	fs.Inode
	fs *FS
}

func (n *commitsNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fs.dirAttr(&out.Attr, 2)
	return 0
}

func (n *commitsNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return n.fs.statfs(out)
}

func (n *commitsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	c, err := parseChecksum(name)
	if err != nil {
		return nil, syscall.ENOENT
	}
	ci, errno := n.fs.commit(c)
	if errno != 0 {
		return nil, errno
	}
	d, errno := n.fs.newDir(ci, "/", ci.commit.RootTree, ci.commit.RootMeta)
	if errno != 0 {
		return nil, errno
	}
	d.fill(&out.Attr)
	out.SetEntryTimeout(immutable)
	out.SetAttrTimeout(immutable)
	return n.NewInode(ctx, d, d.stable()), 0
}

func (n *commitsNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	ents, errno := n.entries()
	if errno != 0 {
		return nil, errno
	}
	return fs.NewListDirStream(ents), 0
}

// entries lists the complete commits.
func (n *commitsNode) entries() ([]fuse.DirEntry, syscall.Errno) {
	notice, err := n.fs.refreshCommits()
	if err != nil {
		return nil, n.fs.errno("list commits", err)
	}
	if len(notice.forget) > 0 {
		// Within the listing's request: the kernel waits for its end.
		go n.fs.notifyCommits(commitsNotice{forget: notice.forget})
	}
	cs := n.fs.commitsIdx.idx.Commits()
	ents := make([]fuse.DirEntry, 0, len(cs))
	for _, c := range cs {
		s := c.String()
		ents = append(ents, fuse.DirEntry{Name: s, Mode: syscall.S_IFDIR, Ino: ino("d", s, "/")})
	}
	return ents, 0
}

// OpendirHandle lists commits/ through a handle whose READDIRPLUS gives
// names alone: looking each commit up there would read every commit object
// for an ls that only wants names; ls -l looks them up anyway.
func (n *commitsNode) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &commitsListing{entryCursor{list: n.entries}}, 0, 0
}

// commitsListing is one listing of commits/.
type commitsListing struct {
	entryCursor
}

var (
	_ fs.NodeOpendirHandler = (*commitsNode)(nil)
	_ fs.FileReaddirenter   = (*commitsListing)(nil)
	_ fs.FileSeekdirer      = (*commitsListing)(nil) // listings restarted or read in several requests
	_ fs.FileLookuper       = (*commitsListing)(nil) // READDIRPLUS without a lookup per commit
)

// Lookup answers READDIRPLUS with no entry (node 0): the kernel then
// lists the name alone, and looks it up when asked to.
func (l *commitsListing) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOENT
}
