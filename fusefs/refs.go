package fusefs

import (
	"context"
	"errors"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/repo"
)

// refsTree is refs/ as the mount shows it: every ref by its path under
// refs/ ("heads/os/main", "remotes/origin/main",
// "mirrors/org.example.Os/os/main") and the children of every directory
// ("" is refs/ itself). A directory exists while a ref is below it, or if
// it is one of topDirs.
type refsTree struct {
	refs map[string]repo.Checksum
	dirs map[string]map[string]bool // the names in each directory
}

// topDirs are always shown under refs/, as `ostree init` creates them.
var topDirs = []string{"heads", "mirrors", "remotes"}

func newRefsTree() *refsTree {
	t := &refsTree{refs: map[string]repo.Checksum{}, dirs: map[string]map[string]bool{"": {}}}
	for _, d := range topDirs {
		t.dirs[""][d] = true
		t.dirs[d] = map[string]bool{}
	}
	return t
}

func (t *refsTree) isDir(p string) bool { return t.dirs[p] != nil }

func parentDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// set points the ref at p to c and returns the paths whose entries
// changed: p and any directory made for it.
func (t *refsTree) set(p string, c repo.Checksum) []string {
	old, ok := t.refs[p]
	if ok && old == c {
		return nil
	}
	t.refs[p] = c
	changed := []string{p}
	for d := p; !ok; {
		parent := parentDir(d)
		ok = t.isDir(parent)
		if !ok {
			t.dirs[parent] = map[string]bool{}
			changed = append(changed, parent)
		}
		t.dirs[parent][path.Base(d)] = true
		d = parent
	}
	return changed
}

// remove deletes the ref at p and returns the paths whose entries
// changed: p and any directory left empty, which goes with it.
func (t *refsTree) remove(p string) []string {
	if _, ok := t.refs[p]; !ok {
		return nil
	}
	delete(t.refs, p)
	changed := []string{p}
	for d := p; ; {
		parent := parentDir(d)
		delete(t.dirs[parent], path.Base(d))
		if parent == "" || len(t.dirs[parent]) > 0 || slices.Contains(topDirs, parent) {
			return changed
		}
		delete(t.dirs, parent)
		changed = append(changed, parent)
		d = parent
	}
}

// refsState keeps refsTree current as the repository reports changes, and
// invalidates the kernel's view of what changed.
type refsState struct {
	fs *FS
	// top is refs/ and commits is commits/, set once the mount serves,
	// which is after the watch's first events; until then the kernel has
	// nothing to forget.
	top, commits atomic.Pointer[fs.Inode]

	mu   sync.RWMutex
	tree *refsTree
	// applied counts the events applied to tree; invalidated the ones
	// whose invalidations are done too (see caughtUp).
	applied     uint64
	invalidated atomic.Uint64
	// loaded is closed after the first look at refs/; loadErr is why it
	// failed, if it did.
	loaded  chan struct{}
	loadErr error
}

func newRefsState(f *FS) *refsState {
	return &refsState{fs: f, tree: newRefsTree(), loaded: make(chan struct{})}
}

// watch keeps refs/ current until ctx is done; its first event, which
// lists every ref, fills the tree (see waitLoaded).
func (f *FS) watch(ctx context.Context) {
	f.r.WatchRefs(ctx, repo.WatchOptions{Poll: f.o.RefPoll}, f.refs.update)
}

// waitLoaded returns once the first look at refs/ was applied, or with
// the reason it failed.
func (s *refsState) waitLoaded(ctx context.Context) error {
	select {
	case <-s.loaded:
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.loadErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// update applies what the repository saw change and tells the kernel to
// forget the entries that changed, so that its next lookup sees the new
// value. It also drops the kernel's listing of commits/: the kernel caches
// every listing (see handlelessDirs), and a new commit comes with a ref
// update, hence an event; the events of every RefPoll catch the rest.
func (s *refsState) update(ev repo.RefEvent) {
	if ev.Err != nil {
		s.fs.log.Error("fusefs: watch refs", "err", ev.Err)
	}
	select {
	case <-s.loaded:
	default:
		// The first look's event, or the error of its failure; an
		// error that only says how the watch works comes before it.
		if errors.Is(ev.Err, repo.ErrRefsUnreadable) {
			s.mu.Lock()
			s.loadErr = ev.Err
			s.mu.Unlock()
			close(s.loaded)
		} else if ev.Err == nil {
			defer close(s.loaded)
		}
	}
	if commits := s.commits.Load(); commits != nil {
		commits.NotifyContent(0, 0)
	}
	var changed []string
	s.mu.Lock()
	// Deletions first: a ref may give way to a directory of the same
	// name, or the other way round.
	for _, c := range ev.Changes {
		if c.Deleted {
			changed = append(changed, s.tree.remove(c.Name)...)
		}
	}
	for _, c := range ev.Changes {
		if !c.Deleted {
			changed = append(changed, s.tree.set(c.Name, c.Checksum)...)
		}
	}
	s.applied++
	n := s.applied
	s.mu.Unlock()
	// Not under mu: dropping an entry may wait for a lookup in flight,
	// which takes mu.
	for _, p := range changed {
		s.invalidate(p)
	}
	s.invalidated.Store(n)
	if len(changed) > 0 {
		s.fs.log.Debug("fusefs: refs changed", "paths", changed)
	}
}

// caughtUp tells whether the ref at p is in the tree and the kernel was
// told of every change up to the one that put it there.
func (s *refsState) caughtUp(p string) bool {
	s.mu.RLock()
	_, ok := s.tree.refs[p]
	n := s.applied
	s.mu.RUnlock()
	return ok && s.invalidated.Load() >= n
}

// invalidate drops refs/<p> from the kernel's dentry cache, and the
// directory listing of its parent, if the kernel knows them.
func (s *refsState) invalidate(p string) {
	top := s.top.Load()
	if top == nil {
		return
	}
	parent := top
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

// refsTimeout is how long the kernel may keep entries and attributes of
// refs/: as long as those of commits/, since every change is invalidated
// explicitly (update); a find over a hundred thousand refs is then
// answered from the kernel's cache the second time.
const refsTimeout = immutable

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
	s := d.fs.refs
	s.mu.RLock()
	ok := s.tree.isDir(d.path)
	s.mu.RUnlock()
	d.fs.dirAttr(&out.Attr, 2)
	out.SetTimeout(refsTimeout)
	if !ok {
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
	s := d.fs.refs
	p := join(d.path, name)
	s.mu.RLock()
	isDir := s.tree.isDir(p)
	c, ok := s.tree.refs[p]
	s.mu.RUnlock()
	out.SetEntryTimeout(refsTimeout)
	out.SetAttrTimeout(refsTimeout)
	if isDir {
		n := &refDirNode{fs: d.fs, path: p}
		d.fs.dirAttr(&out.Attr, 2)
		st := fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("refdir", p)}
		out.Attr.Ino = st.Ino
		return d.NewInode(ctx, n, st), 0
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	depth := strings.Count("refs/"+p, "/")
	n := &refLinkNode{fs: d.fs, path: p, c: c, target: strings.Repeat("../", depth) + "commits/" + c.String()}
	n.fill(&out.Attr)
	return d.NewInode(ctx, n, n.stable()), 0
}

func (d *refDirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	s := d.fs.refs
	s.mu.RLock()
	names, ok := s.tree.dirs[d.path]
	if !ok {
		s.mu.RUnlock()
		return nil, syscall.ENOENT
	}
	ents := make([]fuse.DirEntry, 0, len(names))
	for name := range names {
		p := join(d.path, name)
		if s.tree.isDir(p) {
			ents = append(ents, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: ino("refdir", p)})
		} else {
			ents = append(ents, fuse.DirEntry{Name: name, Mode: syscall.S_IFLNK, Ino: ino("ref", p, s.tree.refs[p].String())})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(ents, func(a, b fuse.DirEntry) int { return strings.Compare(a.Name, b.Name) })
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
	out.SetTimeout(refsTimeout)
	return 0
}

func (n *refLinkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(n.target), 0
}
