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
	// loader reads a directory of refs/ the first time the kernel asks
	// what is in it: the watch is lazy.
	loader *repo.RefLoader
	// ahead holds directories listed for the kernel, whose
	// subdirectories readAhead reads before a walk descends into them.
	ahead chan string

	// inval holds the paths whose kernel entries are to be dropped, for
	// invalidator: not the watch's goroutine, which a lookup may wait for
	// (a load) while the kernel holds the lock of a directory that an
	// invalidation needs.
	invalMu   sync.Mutex
	inval     []string
	invalUpto uint64
	// refresh asks invalidator to refresh commits/ after the paths.
	refresh   bool
	invalWake chan struct{}
}

func newRefsState(f *FS) *refsState {
	return &refsState{fs: f, tree: newStubTree(), loaded: make(chan struct{}), loader: repo.NewRefLoader(),
		ahead: make(chan string, aheadQueue), invalWake: make(chan struct{}, 1)}
}

// watch keeps refs/ current until ctx is done; its first event, which
// lists every ref, fills the tree (see waitLoaded).
func (f *FS) watch(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { f.watchCommits(ctx) })
	wg.Go(func() { f.refs.invalidator(ctx) })
	if !f.o.noReadAhead {
		wg.Go(func() { f.refs.readAhead(ctx) })
	}
	f.r.WatchRefs(ctx, repo.WatchOptions{Poll: f.o.RefPoll, Loader: f.refs.loader}, f.refs.update)
	wg.Wait()
}

// invalidator tells the kernel of the changes update queued, in order,
// until ctx is done.
func (s *refsState) invalidator(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.invalWake:
		}
		s.invalMu.Lock()
		paths, upto, refresh := s.inval, s.invalUpto, s.refresh
		s.inval, s.refresh = nil, false
		s.invalMu.Unlock()
		for _, p := range paths {
			s.invalidate(p)
		}
		s.invalidated.Store(upto)
		if refresh {
			s.fs.refreshNotify()
		}
	}
}

// ensureLoaded has the watch read the directory dir of refs/ if it has
// not yet; the tree holds its entries after.
func (s *refsState) ensureLoaded(ctx context.Context, dir string) {
	s.mu.RLock()
	stub := s.tree.isStub(dir)
	s.mu.RUnlock()
	if !stub {
		return
	}
	if err := s.loader.Load(ctx, dir); err != nil && ctx.Err() == nil {
		s.fs.log.Error("fusefs: read refs", "dir", dir, "err", err)
	}
}

const (
	// aheadQueue bounds the listed directories waiting for readAhead;
	// a listing that finds the queue full is not read ahead.
	aheadQueue = 64
	// aheadDepth is how many levels below a listed directory readAhead
	// reads: a mirror's app/ID/ARCH/BRANCH needs two below app/.
	aheadDepth = 2
	// aheadBatch is how many directories readAhead reads in one load.
	aheadBatch = 32
)

// readAhead reads, until ctx is done, the unread directories below those
// listed for the kernel (see listed), aheadDepth levels deep, in the
// order a walk enters them: the walk then finds them read, instead of
// waiting in each LOOKUP for its directory to be read. A directory the
// kernel asks for first is read by its request, as without readAhead;
// the loader serialises both.
func (s *refsState) readAhead(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case dir := <-s.ahead:
			s.readBelow(ctx, dir, aheadDepth)
		}
	}
}

// readBelow reads the unread directories in dir and, depth levels deep,
// below them, depth first, aheadBatch directories at a time.
func (s *refsState) readBelow(ctx context.Context, dir string, depth int) {
	s.readAll(ctx, s.subdirs([]string{dir}), depth)
}

// readAll reads the directories dirs, and depth-1 levels below them.
func (s *refsState) readAll(ctx context.Context, dirs []string, depth int) {
	if depth == 0 {
		return
	}
	for batch := range slices.Chunk(dirs, aheadBatch) {
		if ctx.Err() != nil {
			return
		}
		if err := s.loader.LoadAll(ctx, batch); err != nil && ctx.Err() == nil {
			s.fs.log.Error("fusefs: read refs", "dirs", batch, "err", err)
		}
		s.readAll(ctx, s.subdirs(batch), depth-1)
	}
}

// subdirs returns the directories in the read directories dirs.
func (s *refsState) subdirs(dirs []string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var subs []string
	for _, dir := range dirs {
		if e := s.tree.find(dir); e != nil && e.sum == 0 {
			for _, k := range e.kids {
				if k.isDir() {
					subs = append(subs, join(dir, k.name))
				}
			}
		}
	}
	return subs
}

// listed queues dir, just listed for the kernel, for readAhead if it
// holds a directory not read yet, unless the queue is full.
func (s *refsState) listed(dir string, e *refEntry) {
	for i := range e.kids {
		if e.kids[i].isStub() {
			select {
			case s.ahead <- dir:
			default:
			}
			return
		}
	}
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
// value. It also refreshes commits/, whose listing the kernel caches (see
// handlelessDirs): a new commit comes with a ref update, hence an event,
// and watchCommits catches the rest.
func (s *refsState) update(ev repo.RefEvent) {
	if ev.Err != nil {
		s.fs.log.Error("fusefs: watch refs", "err", ev.Err)
	}
	first := false
	select {
	case <-s.loaded:
	default:
		first = true
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
	var changed []string
	s.mu.Lock()
	// Deletions first: a ref may give way to a directory of the same
	// name, or the other way round.
	for _, c := range ev.Changes {
		switch {
		case c.Deleted && c.Dir:
			changed = append(changed, s.tree.removeDir(c.Name)...)
		case c.Deleted:
			changed = append(changed, s.tree.remove(c.Name)...)
		}
	}
	for _, c := range ev.Changes {
		// The kernel knows nothing in a directory read for the first
		// time: what it holds is no change to tell.
		report := true
		if len(ev.Loaded) > 0 {
			dir, _ := splitPath(c.Name)
			report = !slices.Contains(ev.Loaded, dir)
		}
		switch {
		case c.Deleted:
		case c.Dir:
			changed = append(changed, s.tree.addStubTo(c.Name, report)...)
		default:
			changed = append(changed, s.tree.setTo(c.Name, c.Checksum, report)...)
		}
	}
	for _, d := range ev.Loaded {
		s.tree.loaded(d)
	}
	s.applied++
	n := s.applied
	s.mu.Unlock()
	// Not here: dropping an entry may wait for a lookup in flight, which
	// may wait for this goroutine (a load).
	s.invalMu.Lock()
	s.inval = append(s.inval, changed...)
	s.invalUpto = n
	// After the refs, which a lookup of commits/ does not need. The first
	// look at commits/ is watchCommits's, and the mount need not wait for
	// it; nor does a directory read for the kernel.
	s.refresh = s.refresh || !first && len(ev.Loaded) == 0
	s.invalMu.Unlock()
	select {
	case s.invalWake <- struct{}{}:
	default:
	}
	if len(changed) > 0 {
		s.fs.log.Debug("fusefs: refs changed", "paths", changed)
	}
}

// caughtUp tells whether the ref at p is in the tree and the kernel was
// told of every change up to the one that put it there.
func (s *refsState) caughtUp(p string) bool {
	s.mu.RLock()
	_, ok := s.tree.ref(p)
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
	s.ensureLoaded(ctx, d.path)
	s.mu.RLock()
	e := s.tree.find(p)
	isDir := e != nil && e.isDir()
	c, ok := s.tree.ref(p)
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
	ents, errno := d.entries(ctx)
	if errno != 0 {
		return nil, errno
	}
	return fs.NewListDirStream(ents), 0
}

// entries lists the directory, sorted.
func (d *refDirNode) entries(ctx context.Context) ([]fuse.DirEntry, syscall.Errno) {
	s := d.fs.refs
	s.ensureLoaded(ctx, d.path)
	s.mu.RLock()
	e := s.tree.find(d.path)
	if e == nil || !e.isDir() {
		s.mu.RUnlock()
		return nil, syscall.ENOENT
	}
	s.listed(d.path, e)
	ents := make([]fuse.DirEntry, 0, len(e.kids))
	for _, k := range e.kids { // sorted
		p := join(d.path, k.name)
		if k.isDir() {
			ents = append(ents, fuse.DirEntry{Name: k.name, Mode: syscall.S_IFDIR, Ino: ino("refdir", p)})
		} else {
			ents = append(ents, fuse.DirEntry{Name: k.name, Mode: syscall.S_IFLNK, Ino: ino("ref", p, s.tree.sums[k.sum-1].String())})
		}
	}
	s.mu.RUnlock()
	return ents, 0
}

// OpendirHandle lists a directory of refs/ through a handle whose
// READDIRPLUS looks up the directories in it, which a walk enters, and
// not the refs: find -type l and ls need only their names and types, and
// a ref the kernel never looked up costs the mount no node.
func (d *refDirNode) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	list := func() ([]fuse.DirEntry, syscall.Errno) { return d.entries(context.Background()) }
	return &refListing{entryCursor{list: list}, d}, 0, 0
}

// refListing is one listing of a directory of refs/.
type refListing struct {
	entryCursor
	d *refDirNode
}

var (
	_ fs.NodeOpendirHandler = (*refDirNode)(nil)
	_ fs.FileReaddirenter   = (*refListing)(nil)
	_ fs.FileSeekdirer      = (*refListing)(nil)
	_ fs.FileLookuper       = (*refListing)(nil)
)

// Lookup answers READDIRPLUS for a directory as a lookup does, and for a
// ref with no entry (node 0): the kernel then lists its name alone.
func (l *refListing) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	s := l.d.fs.refs
	s.mu.RLock()
	isDir := s.tree.isDir(join(l.d.path, name))
	s.mu.RUnlock()
	if !isDir {
		return nil, syscall.ENOENT
	}
	return l.d.Lookup(ctx, name, out)
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
