package fusefs

import (
	"context"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/repo"
)

// refsSnapshot is refs/ at one moment: every ref by its path under refs/
// ("heads/os/main", "remotes/origin/main", "mirrors/org.example.Os/os/main")
// and the children of every directory ("" is refs/ itself).
type refsSnapshot struct {
	refs map[string]repo.Checksum
	dirs map[string][]string // sorted child names
}

func (s *refsSnapshot) isDir(p string) bool { _, ok := s.dirs[p]; return ok }

// add records the ref at p and every directory above it; scan sorts and
// deduplicates the children afterwards.
func (s *refsSnapshot) add(p string, c repo.Checksum) {
	s.refs[p] = c
	for d := p; d != ""; {
		parent := path.Dir(d)
		if parent == "." {
			parent = ""
		}
		s.dirs[parent] = append(s.dirs[parent], path.Base(d))
		d = parent
	}
}

// refsState holds the current snapshot and invalidates the kernel's view
// when it changes.
type refsState struct {
	fs      *FS
	top     *fs.Inode // refs/
	commits *fs.Inode // commits/

	mu  sync.Mutex
	cur *refsSnapshot
}

// topDirs are always shown under refs/, as `ostree init` creates them.
var topDirs = []string{"heads", "mirrors", "remotes"}

func emptySnapshot() *refsSnapshot {
	n := &refsSnapshot{refs: map[string]repo.Checksum{}, dirs: map[string][]string{"": slices.Clone(topDirs)}}
	for _, d := range topDirs {
		n.dirs[d] = nil
	}
	return n
}

func newRefsState(f *FS) *refsState {
	return &refsState{fs: f, cur: emptySnapshot()}
}

func (s *refsState) snapshot() *refsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// scan reads refs/ into a new snapshot.
func (s *refsState) scan() (*refsSnapshot, error) {
	refs, err := s.fs.r.ListRefs("", false)
	if err != nil {
		return nil, err
	}
	mirrors, err := s.fs.r.ListMirrorRefs()
	if err != nil {
		return nil, err
	}
	n := emptySnapshot()
	for _, r := range refs {
		p := "heads/" + r.Name
		if r.Remote != "" {
			p = "remotes/" + r.Remote + "/" + r.Name
		}
		n.add(p, r.Checksum)
	}
	for _, r := range mirrors {
		n.add("mirrors/"+r.Collection+"/"+r.Name, r.Checksum)
	}
	for d, names := range n.dirs {
		slices.Sort(names)
		n.dirs[d] = slices.Compact(names)
	}
	return n, nil
}

// refresh rescans refs/ and tells the kernel to forget every entry that
// changed, so that its next lookup sees the new value. It also drops the
// kernel's listing of commits/: the kernel caches every listing (see
// handlelessDirs), and refresh runs on every transaction's end (the
// repository's mtime bump) and every RefPoll.
func (s *refsState) refresh() error {
	if s.commits != nil {
		s.commits.NotifyContent(0, 0)
	}
	n, err := s.scan()
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.cur
	s.cur = n
	s.mu.Unlock()
	var changed []string
	for p, c := range n.refs {
		if oc, ok := old.refs[p]; !ok || oc != c {
			changed = append(changed, p)
		}
	}
	for p := range old.refs {
		if _, ok := n.refs[p]; !ok {
			changed = append(changed, p)
		}
	}
	for d := range old.dirs {
		if !n.isDir(d) {
			changed = append(changed, d)
		}
	}
	for d := range n.dirs {
		if !old.isDir(d) {
			changed = append(changed, d)
		}
	}
	for _, p := range changed {
		s.invalidate(p)
	}
	if len(changed) > 0 {
		s.fs.log.Debug("fusefs: refs changed", "paths", changed)
	}
	return nil
}

// invalidate drops refs/<p> from the kernel's dentry cache, and the
// directory listing of its parent, if the kernel knows them.
func (s *refsState) invalidate(p string) {
	if s.top == nil {
		return
	}
	parent := s.top
	dir, name := path.Split(p)
	for _, comp := range strings.Split(strings.TrimSuffix(dir, "/"), "/") {
		if comp == "" {
			continue
		}
		parent = parent.GetChild(comp)
		if parent == nil {
			return // the kernel never looked this far
		}
	}
	parent.NotifyEntry(name)
	parent.NotifyContent(0, 0)
}

// refDirNode is refs/ or a directory under it.
type refDirNode struct {
	fs.Inode
	fs   *FS
	path string // under refs/, "" for refs/ itself
}

// refLinkNode is one ref: a symlink to its commit.
type refLinkNode struct {
	fs.Inode
	fs     *FS
	path   string
	target string
	c      repo.Checksum
}

var (
	_ fs.NodeLookuper   = (*refDirNode)(nil)
	_ fs.NodeReaddirer  = (*refDirNode)(nil)
	_ fs.NodeGetattrer  = (*refDirNode)(nil)
	_ fs.NodeGetattrer  = (*refLinkNode)(nil)
	_ fs.NodeReadlinker = (*refLinkNode)(nil)
)

func (d *refDirNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	snap := d.fs.refs.snapshot()
	d.fs.dirAttr(&out.Attr, 2)
	out.SetTimeout(mutable)
	if !snap.isDir(d.path) {
		return syscall.ENOENT
	}
	return 0
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func (d *refDirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	snap := d.fs.refs.snapshot()
	p := join(d.path, name)
	out.SetEntryTimeout(mutable)
	out.SetAttrTimeout(mutable)
	if snap.isDir(p) {
		n := &refDirNode{fs: d.fs, path: p}
		d.fs.dirAttr(&out.Attr, 2)
		st := fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("refdir", p)}
		out.Attr.Ino = st.Ino
		return d.NewInode(ctx, n, st), 0
	}
	c, ok := snap.refs[p]
	if !ok {
		return nil, syscall.ENOENT
	}
	depth := strings.Count("refs/"+p, "/")
	n := &refLinkNode{fs: d.fs, path: p, c: c, target: strings.Repeat("../", depth) + "commits/" + c.String()}
	n.fill(&out.Attr)
	return d.NewInode(ctx, n, n.stable()), 0
}

func (d *refDirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	snap := d.fs.refs.snapshot()
	names, ok := snap.dirs[d.path]
	if !ok {
		return nil, syscall.ENOENT
	}
	ents := make([]fuse.DirEntry, 0, len(names))
	for _, name := range names {
		p := join(d.path, name)
		if snap.isDir(p) {
			ents = append(ents, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: ino("refdir", p)})
		} else {
			ents = append(ents, fuse.DirEntry{Name: name, Mode: syscall.S_IFLNK, Ino: ino("ref", p, snap.refs[p].String())})
		}
	}
	return fs.NewListDirStream(ents), 0
}

// stable keys a ref's inode by its value too: a moved ref is a new symlink.
func (n *refLinkNode) stable() fs.StableAttr {
	return fs.StableAttr{Mode: syscall.S_IFLNK, Ino: ino("ref", n.path, n.c.String())}
}

func (n *refLinkNode) fill(a *fuse.Attr) {
	a.Mode = syscall.S_IFLNK | 0o777
	a.Nlink = 1
	a.Size = uint64(len(n.target))
	a.Ino = n.stable().Ino
	t := n.fs.mounted
	if ci, errno := n.fs.commit(n.c); errno == 0 {
		t = ci.commit.Timestamp
	}
	setTime(a, t)
}

func (n *refLinkNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fill(&out.Attr)
	out.SetTimeout(mutable)
	return 0
}

func (n *refLinkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(n.target), 0
}
