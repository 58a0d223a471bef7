package fusefs

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/repo"
)

// refsState keeps refsTree current as the repository reports changes, and
// invalidates the kernel's view of what changed.
type refsState struct {
	fs *FS
	// server tells the kernel what changed in refs/, and commits is
	// commits/, both set once the mount serves, which is after the
	// watch's first events; until then the kernel has nothing to forget.
	server  atomic.Pointer[fuse.Server]
	commits atomic.Pointer[fs.Inode]

	mu   sync.RWMutex
	tree *refsTree
	// nodes are the kernel's nodes of refs/ (rawRefs); a tree entry
	// names its own, if it has one.
	nodes *refNodes
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
	// serving is closed once the mount serves, when fill starts;
	// filled once fill is done.
	serving, filled chan struct{}

	// inval holds the entries the kernel is to drop, for
	// invalidator: not the watch's goroutine, which a lookup may wait for
	// (a load) while the kernel holds the lock of a directory that an
	// invalidation needs.
	invalMu   sync.Mutex
	inval     []refInval
	invalUpto uint64
	// refresh asks invalidator to refresh commits/ after the paths.
	refresh   bool
	invalWake chan struct{}
}

func newRefsState(f *FS) *refsState {
	s := &refsState{fs: f, tree: newStubTree(), nodes: newRefNodes(), loaded: make(chan struct{}),
		loader: repo.NewRefLoader(), ahead: make(chan string, aheadQueue), serving: make(chan struct{}), filled: make(chan struct{}), invalWake: make(chan struct{}, 1)}
	// readAhead's batches are read in its own goroutine: more would take
	// the cores the walk it reads ahead of needs, the walk's process and
	// the mount's reader.
	s.loader.Parallel = 1
	s.tree.root.node = rawRootNode
	return s
}

// watch keeps refs/ current until ctx is done; its first event, which
// lists every ref, fills the tree (see waitLoaded).
func (f *FS) watch(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { f.watchCommits(ctx) })
	wg.Go(func() { f.refs.invalidator(ctx) })
	switch {
	case f.o.noReadAhead:
	case f.o.noFill:
		wg.Go(func() { f.refs.readAhead(ctx) })
	default:
		// One goroutine reads ahead: until the fill is done, a second
		// would read the same directories in the same order, and take
		// a core from the walk it reads ahead of.
		wg.Go(func() {
			f.refs.fill(ctx)
			f.refs.readAhead(ctx)
		})
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
		invals, upto, refresh := s.inval, s.invalUpto, s.refresh
		s.inval, s.refresh = nil, false
		s.invalMu.Unlock()
		for _, inv := range invals {
			s.invalidate(inv)
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

// fill reads, once the mount serves, every directory of refs/ not read
// yet, in the order a walk enters them, and returns when done or when ctx
// is: the mount answers at once and the first walk of refs/ finds most
// of it read. A directory the kernel asks for before fill reaches it is
// read by that request; the loader reads each directory once, whoever
// asks first, so fill skips it. Directories that appear later are read
// as the kernel asks for them.
func (s *refsState) fill(ctx context.Context) {
	defer close(s.filled)
	select {
	case <-s.serving:
	case <-ctx.Done():
		return
	}
	start := time.Now()
	s.readBelow(ctx, "", -1)
	if ctx.Err() == nil {
		// How long the first walk competes with it. Debug: the first
		// line at Info is "mounted", which scripts wait for.
		s.fs.log.Debug("fusefs: refs filled", "took", time.Since(start).Round(time.Millisecond))
	}
}

// readBelow reads the unread directories in dir and, depth levels deep,
// below them, depth first, aheadBatch directories at a time; a negative
// depth has no bound.
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

// subdirs returns the directories in the read directories dirs, each
// directory's in the order a walk enters them (see walkOrder).
func (s *refsState) subdirs(dirs []string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var subs []string
	for _, dir := range dirs {
		if e := s.tree.find(dir); e != nil && e.sum == 0 {
			subs = walkOrder(subs, dir, e.kids())
		}
	}
	return subs
}

// gnulib's fts, the walker of find, du, rm -r, chmod -R and chown -R,
// reads a directory ftsChunk entries at a time, and enters the
// directories of a chunk of more than ftsSortMin entries in the order of
// their inode numbers (on all but a few file systems, FUSE among them),
// those of a smaller one in the listing's order.
const (
	ftsSortMin = 10000
	ftsChunk   = 100000
)

// walkOrder appends to subs the paths of the directories among kids, the
// entries of dir in listing order, in the order fts enters them. In any
// other order, a walk by find of a mirror's refs/heads/app would enter
// directories the fill has not reached, each read by the walk's own
// request. Walkers that take the listing's order (ls -R, os.walk,
// filepath.WalkDir) meet the same order but in so large a directory.
func walkOrder(subs []string, dir string, kids []refEntry) []string {
	type byIno struct {
		ino  uint64
		name string
	}
	var sorted []byIno
	for len(kids) > 0 {
		chunk := kids[:min(len(kids), ftsChunk)]
		kids = kids[len(chunk):]
		if len(chunk) <= ftsSortMin {
			for i := range chunk {
				if chunk[i].isDir() {
					subs = append(subs, join(dir, chunk[i].name()))
				}
			}
			continue
		}
		v := inoPrefix("refdir", dir)
		sorted = sorted[:0]
		for i := range chunk {
			if chunk[i].isDir() {
				name := chunk[i].name()
				sorted = append(sorted, byIno{inoName(v, name, nil), name})
			}
		}
		slices.SortFunc(sorted, func(a, b byIno) int { return cmp.Compare(a.ino, b.ino) })
		for _, d := range sorted {
			subs = append(subs, join(dir, d.name))
		}
	}
	return subs
}

// listed queues dir, just listed for the kernel, for readAhead if it
// holds a directory not read yet, unless the queue is full.
func (s *refsState) listed(dir string, e *refEntry) {
	for _, k := range e.kids() {
		if k.isStub() {
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

// warmCommits reads into the mount's cache the commits that changes
// point refs at, off the FUSE reader; the cache keeps each.
func (s *refsState) warmCommits(changes []repo.RefChange) {
	var last repo.Checksum
	for _, c := range changes {
		if c.Deleted || c.Dir || c.Checksum == last {
			continue
		}
		last = c.Checksum
		s.fs.commit(c.Checksum)
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
	// Before the directories count as loaded: from then on the reader
	// answers their listings and lookups itself (answersAtOnce), and the
	// attributes of a ref need its commit, which must not be read from
	// disk there, holding up every other request.
	s.warmCommits(ev.Changes)
	s.mu.Lock()
	changed, invals := s.apply(ev)
	for _, d := range ev.Loaded {
		s.tree.loaded(d)
	}
	s.applied++
	n := s.applied
	s.mu.Unlock()
	// Not here: dropping an entry may wait for a lookup in flight, which
	// may wait for this goroutine (a load).
	s.invalMu.Lock()
	s.inval = append(s.inval, invals...)
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

// apply applies the changes of ev to the tree, and returns the paths
// that changed and the entries the kernel is to drop. Callers hold s.mu.
func (s *refsState) apply(ev repo.RefEvent) (changed []string, invals []refInval) {
	// Deletions first: a ref may give way to a directory of the same
	// name, or the other way round. The kernel's nodes of the
	// directories on the way are those before the deletion, which may
	// take directories with it.
	for _, c := range ev.Changes {
		if !c.Deleted {
			continue
		}
		along := s.tree.along(c.Name)
		var ch []string
		if c.Dir {
			ch = s.tree.removeDir(c.Name)
		} else {
			ch = s.tree.remove(c.Name)
		}
		changed, invals = append(changed, ch...), appendInvals(invals, along, ch)
	}
	for _, c := range ev.Changes {
		// The kernel knows nothing in a directory read for the first
		// time: what it holds is no change to tell.
		report := true
		if len(ev.Loaded) > 0 {
			dir, _ := splitPath(c.Name)
			report = !slices.Contains(ev.Loaded, dir)
		}
		var ch []string
		switch {
		case c.Deleted:
			continue
		case c.Dir:
			ch = s.tree.addStubTo(c.Name, report)
		default:
			ch = s.tree.setTo(c.Name, c.Checksum, report)
		}
		if len(ch) > 0 {
			changed, invals = append(changed, ch...), appendInvals(invals, s.tree.along(c.Name), ch)
		}
	}
	return changed, invals
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

// refInval is an entry the kernel is to drop: name in the directory
// whose node is dir.
type refInval struct {
	dir  uint32
	name string
}

// appendInvals appends to invals the entries of the changed paths, all on
// the way to one path, whose directories' nodes are along (see along).
func appendInvals(invals []refInval, along []uint32, changed []string) []refInval {
	for _, p := range changed {
		dir, name := splitPath(p)
		depth := 0
		if dir != "" {
			depth = strings.Count(dir, "/") + 1
		}
		if depth < len(along) && along[depth] != 0 {
			invals = append(invals, refInval{along[depth], name})
		}
	}
	return invals
}

// invalidate drops an entry from the kernel's dentry cache, and the
// listing of its directory. The directory's node may be gone by now, or
// even taken by another: that costs the kernel a lookup, nothing more.
func (s *refsState) invalidate(inv refInval) {
	srv := s.server.Load()
	if srv == nil {
		return
	}
	srv.EntryNotify(refsID(inv.dir), inv.name)
	srv.InodeNotify(refsID(inv.dir), 0, 0)
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
