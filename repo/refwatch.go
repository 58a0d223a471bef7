package repo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// RefChange is one ref that was created, moved or deleted, or, in a lazy
// watch (WatchOptions.Loader), a directory that appeared or went.
type RefChange struct {
	// Name is the ref's path under refs/, as AllRefs names it.
	Name string
	// Checksum is the commit the ref points to now; zero when Deleted.
	Checksum Checksum
	Deleted  bool
	// Dir marks a directory under refs/ (lazy watches only): one found
	// in a loaded directory, whose own entries are not read until it is
	// loaded (RefLoader.Load); or with Deleted, one that went with
	// everything below it.
	Dir bool
}

// RefEvent is what one look at refs/ found.
type RefEvent struct {
	// Changes are the refs that changed since the previous event (since
	// WatchOptions.Since for the first), sorted by name.
	Changes []RefChange
	// Loaded are the directories this event read for the first time
	// (lazy watches only): Changes hold everything in them, refs and
	// directories, and from now on what changes in them is reported.
	Loaded []string
	// Err, when set, is a problem of the watch that it survives: refs/
	// could not be read (the previous view stands and the next look tries
	// again), or change notifications are unavailable or stopped (it
	// polls instead).
	Err error
}

// ErrRefsUnreadable marks a RefEvent.Err of a look that could not read
// refs/: the previous view stands, and the next look tries again.
var ErrRefsUnreadable = errors.New("refs could not be read")

// ErrWatchStopped is what RefLoader.Load returns once its watch ended.
var ErrWatchStopped = errors.New("the watch of refs stopped")

// WatchOptions tunes WatchRefs.
type WatchOptions struct {
	// Since is the view of refs the caller already has (as AllRefs
	// returns it); the first event holds the changes from it. Nil is no
	// refs, so the first event lists every ref. WatchRefs keeps a copy.
	Since map[string]Checksum
	// Poll is the shortest period of the full look that catches any
	// change a notification missed (default 2s). The period grows with
	// the cost of a full look, so that an idle watch of a large refs/
	// costs next to nothing: notifications, and a full rescan when the
	// kernel's queue of them overflowed, are what keep the view exact.
	Poll time.Duration
	// Settle is how long a notification waits for the rest of its burst
	// before refs/ is read (default 5ms): a ref update is a create, a
	// rename and the repository's mtime bump.
	Settle time.Duration
	// Loader, if set, makes the watch lazy: it reads and watches only
	// refs/ itself at first, and each directory below once the caller
	// asks for it through Loader (see RefLoader.Load); a directory never
	// asked for is reported as a stub (RefChange.Dir) and costs nothing.
	// A mount's kernel learns of a mirror's hundred thousand refs only
	// as far as something walks them. Aliases are the exception: the
	// directory of the ref an alias names is loaded with the alias, so
	// that the alias follows it.
	Loader *RefLoader
}

// RefLoader asks a lazy watch to read directories under refs/; one
// RefLoader serves one WatchRefs.
type RefLoader struct {
	// Parallel is how many directories LoadAll reads at once; 0 is
	// loadParallel. 1 reads them all in the caller's goroutine: for a
	// caller that reads ahead of a walk in the background, where
	// goroutines of its own would take cores from the walk.
	Parallel int

	started chan struct{} // closed once w is set
	once    sync.Once
	w       *refWatcher
}

// NewRefLoader returns a loader to pass in WatchOptions.Loader.
func NewRefLoader() *RefLoader {
	return &RefLoader{started: make(chan struct{})}
}

func (l *RefLoader) start(w *refWatcher) {
	l.once.Do(func() {
		l.w = w
		close(l.started)
	})
}

// Load has the watch read the directory dir under refs/ ("heads/app"),
// reported as a stub (RefChange.Dir), if it has not yet. It returns once
// the watch's function returned from the event that lists dir in Loaded,
// or at once if dir is loaded already, or is no directory the watch knows
// (gone meanwhile: an event says so). The error is the watch's failure
// to read dir (an event reports it too), ctx's, or ErrWatchStopped.
// Load runs in the caller's goroutine, which calls the watch's function
// for the load's event (never while the watch's own goroutine does); it
// may not be called from within that function.
func (l *RefLoader) Load(ctx context.Context, dir string) error {
	return l.LoadAll(ctx, []string{dir})
}

// LoadAll is Load of each of dirs, read in parallel and told in one
// event: less work per directory than a Load each, for a caller that
// reads ahead of a walk. It returns the first error.
func (l *RefLoader) LoadAll(ctx context.Context, dirs []string) error {
	select {
	case <-l.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	w := l.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return fmt.Errorf("load refs/%s: %w", strings.Join(dirs, ", refs/"), ErrWatchStopped)
	}
	par := l.Parallel
	if par <= 0 {
		par = loadParallel
	}
	return w.loadAll(dirs, par)
}

// loadParallel is how many directories loadAll reads at once.
const loadParallel = 4

const (
	defaultRefPoll = 2 * time.Second
	defaultSettle  = 5 * time.Millisecond
	// fallbackPoll is the shortest period of the look at refs/ when
	// change notifications are unavailable.
	fallbackPoll = 100 * time.Millisecond
	// pollShare and fallbackShare bound the time a watch spends in full
	// looks, as the multiple of a look's duration that the next waits:
	// 0.2% of the time with notifications, 5% without.
	pollShare     = 500
	fallbackShare = 20
)

// notifier reports what may have changed under refs/: an entry of a
// watched directory, or the repository directory's mtime bump that
// writers do at the end of a transaction (see touch), which names none.
type notifier interface {
	// wake receives after changes; it is closed if notifications stop.
	wake() <-chan struct{}
	// take returns the events since the last take, and whether some
	// changes went unreported (the kernel's queue overflowed): then only
	// a full look is exact.
	take() (evs []notifyEvent, lost bool)
	// watch watches the directory dir under refs/ ("" is refs/), and
	// returns its watch descriptor, -1 if dir is gone.
	watch(dir string) (int32, error)
	// forget stops the watch wd, of a directory gone from refs/.
	forget(wd int32)
	// close stops the notifier and waits for its goroutine.
	close()
}

// newNotifier starts the notifier of the repository at path; a test
// swaps it for one that fails.
var newNotifier = newInotify

// watchStarted is told of each watch as it starts; a test looks at the
// watch's state through it.
var watchStarted = func(*refWatcher) {}

// WatchRefs tells fn how the refs of r change, until ctx is done, then
// returns; nothing of it keeps running.
//
// fn is called after every look at refs/, with what changed since the
// previous call, which may be nothing; a caller may refresh there what
// depends on the repository as a whole (a new commit comes with a ref
// update). The first look reads all of refs/ at once and watches every
// directory under it (or, with WatchOptions.Loader, refs/ alone); later
// ones read only the paths that notifications name (after
// WatchOptions.Settle), so a change costs the same with ten refs or a
// hundred thousand. A full look follows an overflow of the notification
// queue, and WatchOptions.Poll sets the shortest period of the
// safety-net full look. Without change notifications, all of refs/ is
// read every 100ms or more. The calls are sequential, never concurrent:
// from the goroutine that called WatchRefs, or for a load from the one
// that called RefLoader.Load.
func (r *Repo) WatchRefs(ctx context.Context, o WatchOptions, fn func(RefEvent)) {
	if o.Poll <= 0 {
		o.Poll = defaultRefPoll
	}
	if o.Settle <= 0 {
		o.Settle = defaultSettle
	}
	w := newRefWatcher(r, o.Since, fn, o.Loader != nil)
	watchStarted(w)
	w.mu.Lock()
	if o.Loader != nil {
		o.Loader.start(w)
	}
	defer func() {
		w.mu.Lock()
		w.stopped = true
		w.mu.Unlock()
	}()
	n, err := newNotifier(r.path)
	if err != nil {
		w.mu.Unlock()
		w.poll(ctx, fmt.Errorf("watch refs of %s: polling every %v or more: %w", r.path, fallbackPoll, err))
		return
	}
	defer n.close()
	w.n = n
	timer := time.NewTimer(w.full(o.Poll))
	w.mu.Unlock()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-n.wake():
			if !ok {
				w.mu.Lock()
				w.n = nil
				w.mu.Unlock()
				w.poll(ctx, fmt.Errorf("watch refs of %s: notifications stopped, polling every %v or more", r.path, fallbackPoll))
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(o.Settle):
			}
			select { // what arrived meanwhile is seen by this look
			case <-n.wake():
			default:
			}
			evs, lost := n.take()
			w.mu.Lock()
			if lost || w.again {
				timer.Reset(w.full(o.Poll))
			} else {
				w.incremental(w.resolve(evs))
			}
			w.mu.Unlock()
		case <-timer.C:
			w.mu.Lock()
			if wait := w.grown(o.Poll); wait > 0 {
				timer.Reset(wait)
			} else {
				timer.Reset(w.full(o.Poll))
			}
			w.mu.Unlock()
		}
	}
}

// grown returns how much longer the safety-net look should wait, in a
// lazy watch whose loads made the next look dearer than the last (a walk
// of a mirror's refs/ loads thousands of directories a second): the wait
// grows with the look's cost, estimated from the last one's per
// directory, so that the look never holds loads and events up for long.
func (w *refWatcher) grown(min time.Duration) time.Duration {
	if !w.lazy || w.lastDirs == 0 || w.t.dirs <= 2*w.lastDirs {
		return 0
	}
	cost := w.lastTook * time.Duration(w.t.dirs) / time.Duration(w.lastDirs)
	due := w.lastEnd.Add(max(min, cost*pollShare))
	return time.Until(due)
}

// refWatcher is the state of one WatchRefs: the refs as the last event
// left them, and the directories that hold them. Its goroutine and
// RefLoader.Load work on it under mu.
type refWatcher struct {
	mu      sync.Mutex
	stopped bool // WatchRefs returned

	r    *Repo
	fn   func(RefEvent)
	n    notifier // nil while polling
	lazy bool     // reads directories when loaded (WatchOptions.Loader)

	// t holds the refs and the directories under refs/: read (nodeDir)
	// or, in a lazy watch, known and not read (nodeStub).
	t *refTree
	// since is WatchOptions.Since until the first full look replaces
	// it with t.
	since   map[string]Checksum
	aliases map[string]string // alias ref → the ref it names ("" outside refs/)
	gone    func(id uint32)   // stops the watch of a node freed
	// lastTook is how long the last full look took, over lastDirs
	// directories, ending at lastEnd.
	lastTook time.Duration
	lastDirs int
	lastEnd  time.Time
	// again asks for a full look: a read failed, or a watch could not be
	// placed.
	again    bool
	degraded bool
	// touched holds, during an incremental look or a load, each ref it
	// changed with its value before; dirChanges the stubs that came and
	// the directories that went, loaded the directories read.
	touched    map[string]refWas
	dirChanges []RefChange
	loaded     []string
}

type refWas struct {
	c  Checksum
	ok bool
}

func newRefWatcher(r *Repo, since map[string]Checksum, fn func(RefEvent), lazy bool) *refWatcher {
	w := &refWatcher{r: r, fn: fn, lazy: lazy, t: newRefTree(nodeStub), since: maps.Clone(since),
		aliases: map[string]string{}}
	if w.since == nil {
		w.since = map[string]Checksum{}
	}
	w.gone = func(id uint32) {
		if wd := w.t.n(id).wd; wd >= 0 && w.n != nil {
			w.n.forget(wd)
		}
	}
	return w
}

func (w *refWatcher) watchFunc() func(string) (int32, error) {
	if w.n == nil {
		return nil
	}
	return w.n.watch
}

// resolve returns the paths under refs/ that the events evs name, sorted
// and once each. A watch the kernel dropped names its directory: gone, or
// gone and made again.
func (w *refWatcher) resolve(evs []notifyEvent) []string {
	var paths []string
	for _, e := range evs {
		if d := w.t.byWd(e.wd); e.ignored && d != noNode {
			w.t.setWd(d, -1)
			if d != rootNode {
				paths = append(paths, w.t.path(d))
			}
		}
	}
	for _, e := range evs {
		if d := w.t.byWd(e.wd); !e.ignored && d != noNode {
			paths = append(paths, join(w.t.path(d), e.name))
		}
	}
	slices.Sort(paths) // a directory before what is in it
	return slices.Compact(paths)
}

// full reads all of refs/ (in a lazy watch, all its loaded directories),
// tells fn what changed, and returns when the next safety-net look is
// due: min after it, or later in proportion to the look's cost.
func (w *refWatcher) full(min time.Duration) time.Duration {
	start := time.Now()
	var descend func(string) bool
	if w.lazy {
		// Read by the scan's goroutines while w.t does not change.
		descend = func(d string) bool { id := w.t.find(d); return id != noNode && w.t.n(id).kind == nodeDir }
	}
	s := scanRefsSome(w.r.path, "", w.watchFunc(), descend)
	took := time.Since(start)
	w.lastTook, w.lastDirs, w.lastEnd = took, len(s.dirs), time.Now()
	share := time.Duration(pollShare)
	if w.n == nil || w.degraded {
		share = fallbackShare
	}
	next := max(min, took*share)
	if s.err != nil {
		w.again = true
		w.fn(RefEvent{Err: fmt.Errorf("watch refs of %s: %w: %w", w.r.path, ErrRefsUnreadable, s.err)})
		return next
	}
	w.again = false
	w.noteWatchErr(s)
	cur, aliases := treeOfScan(s)
	changes := w.diff(cur)
	if w.n != nil {
		// The watches of directories gone; those that stay keep their
		// descriptors, which the kernel gives again to the same
		// directory.
		for id := range w.t.size() {
			if wd := w.t.n(id).wd; wd >= 0 && cur.byWd(wd) == noNode {
				w.n.forget(wd)
			}
		}
		w.forgetStray(s, cur)
	}
	var loaded []string
	if w.t.n(rootNode).kind != nodeDir && w.lazy {
		loaded = []string{""}
	}
	w.t, w.aliases, w.since = cur, aliases, nil
	w.fn(RefEvent{Changes: changes, Loaded: loaded})
	if w.lazy && w.needTargets() {
		w.begin()
		errs := w.loadTargets(nil)
		w.end(errs)
	}
	return next
}

// forgetStray stops the watches of the directories that s watched and
// found gone, unless t knows them still (moved).
func (w *refWatcher) forgetStray(s *refWalk, t *refTree) {
	for _, wd := range s.stray {
		if t.byWd(wd) == noNode {
			w.n.forget(wd)
		}
	}
}

// diff returns how to go from what the watch knows to cur, sorted: the
// refs that changed and, in a lazy watch, the directories gone (each) and
// the stubs new.
func (w *refWatcher) diff(cur *refTree) []RefChange {
	var changes []RefChange
	old := func(p string) (Checksum, bool) {
		if w.since != nil {
			c, ok := w.since[p]
			return c, ok
		}
		return w.refAt(p)
	}
	cur.walk(rootNode, "", func(id uint32, p string) {
		if cur.isRef(id) {
			if c, ok := old(p); !ok || c != cur.sum(id) {
				changes = append(changes, RefChange{Name: p, Checksum: cur.sum(id)})
			}
		}
	})
	gone := func(p string) {
		if id := cur.find(p); id == noNode || !cur.isRef(id) {
			changes = append(changes, RefChange{Name: p, Deleted: true})
		}
	}
	if w.since != nil {
		for p := range w.since {
			gone(p)
		}
	}
	w.t.walk(rootNode, "", func(id uint32, p string) {
		switch {
		case w.t.isRef(id) && w.since == nil:
			gone(p)
		case w.t.isDir(id) && w.lazy:
			if k := cur.kindAt(p); k != nodeDir && k != nodeStub {
				changes = append(changes, RefChange{Name: p, Dir: true, Deleted: true})
			}
		}
	})
	if w.lazy {
		cur.walk(rootNode, "", func(id uint32, p string) {
			if cur.n(id).kind == nodeStub && w.t.kindAt(p) != nodeStub {
				changes = append(changes, RefChange{Name: p, Dir: true})
			}
		})
	}
	sortChanges(changes)
	return changes
}

// refAt returns the commit of the ref at p, if there is one.
func (w *refWatcher) refAt(p string) (Checksum, bool) {
	id := w.t.find(p)
	if id == noNode || !w.t.isRef(id) {
		return Checksum{}, false
	}
	return w.t.sum(id), true
}

// noteWatchErr reports a watch that could not be placed: from then on
// the safety-net look runs as often as without notifications.
func (w *refWatcher) noteWatchErr(s *refWalk) {
	if s.watchErr != nil {
		w.degraded = true
		w.fn(RefEvent{Err: fmt.Errorf("watch refs of %s: polling every %v or more: %w", w.r.path, fallbackPoll, s.watchErr)})
	}
}

// begin starts a batch of changes: an incremental look or a load.
func (w *refWatcher) begin() {
	w.touched = map[string]refWas{}
	w.dirChanges, w.loaded = nil, nil
}

// end tells fn what the batch changed, after its errors.
func (w *refWatcher) end(errs []error) {
	changes := w.dirChanges
	for p, was := range w.touched {
		c, ok := w.refAt(p)
		switch {
		case ok && (!was.ok || was.c != c):
			changes = append(changes, RefChange{Name: p, Checksum: c})
		case !ok && was.ok:
			changes = append(changes, RefChange{Name: p, Deleted: true})
		}
	}
	sortChanges(changes)
	loaded := w.loaded
	w.touched, w.dirChanges, w.loaded = nil, nil, nil
	for _, err := range errs {
		w.again = true
		w.fn(RefEvent{Err: fmt.Errorf("watch refs of %s: %w: %w", w.r.path, ErrRefsUnreadable, err)})
	}
	w.fn(RefEvent{Changes: changes, Loaded: loaded})
}

func sortChanges(changes []RefChange) {
	slices.SortFunc(changes, func(a, b RefChange) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		// A directory gone before what replaced it.
		if a.Deleted != b.Deleted {
			if a.Deleted {
				return -1
			}
			return 1
		}
		return 0
	})
}

// incremental reads the paths that notifications named, and the aliases
// of the refs that changed, and tells fn what changed.
func (w *refWatcher) incremental(paths []string) {
	w.begin()
	var errs []error
	for _, p := range paths {
		if err := w.check(p); err != nil {
			errs = append(errs, err)
		}
	}
	// An alias follows the ref it names, which the notifications named.
	for range 4 {
		var again []string
		for a, t := range w.aliases {
			if _, ok := w.touched[t]; ok {
				if _, done := w.touched[a]; !done {
					again = append(again, a)
				}
			}
		}
		if len(again) == 0 {
			break
		}
		for _, a := range again {
			if err := w.check(a); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = w.loadTargets(errs)
	w.end(errs)
}

// isStub tells whether d is a directory known and not read.
func (w *refWatcher) isStub(d string) bool { return w.t.kindAt(d) == nodeStub }

// loadAll reads the stubs among dirs, par at a time, and tells fn what
// they hold in one event.
func (w *refWatcher) loadAll(dirs []string, par int) error {
	var todo []string
	for _, d := range dirs {
		if w.isStub(d) && !slices.Contains(todo, d) {
			todo = append(todo, d)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	w.begin()
	scans := make([]*refWalk, len(todo))
	if len(todo) == 1 || par == 1 { // a lookup's, or asked: no goroutine
		for i, d := range todo {
			scans[i] = w.scanDir(d)
		}
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, par)
		for i, d := range todo {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				scans[i] = w.scanDir(d)
			})
		}
		wg.Wait()
	}
	var errs []error
	for i, d := range todo {
		if err := w.addLoad(d, scans[i]); err != nil {
			errs = append(errs, err)
		}
	}
	var first error
	if len(errs) > 0 {
		first = errs[0]
	}
	errs = w.loadTargets(errs)
	w.end(errs)
	return first
}

// loadDir reads the stub dir: its refs, and its directories as stubs.
func (w *refWatcher) loadDir(dir string) error { return w.addLoad(dir, w.scanDir(dir)) }

// scanDir reads the directory dir alone, and watches it.
func (w *refWatcher) scanDir(dir string) *refWalk {
	return scanRefsSome(w.r.path, dir, w.watchFunc(), func(string) bool { return false })
}

// addLoad takes in s, what scanDir found in the stub dir.
func (w *refWatcher) addLoad(dir string, s *refWalk) error {
	id := w.t.find(dir)
	if id == noNode || w.t.n(id).kind != nodeStub {
		return nil // loaded meanwhile (a target of an alias), or gone
	}
	if !slices.ContainsFunc(s.dirs, func(d scannedDir) bool { return d.path == dir }) { // gone meanwhile
		w.goneDir(dir)
		if w.n != nil {
			w.forgetStray(s, w.t)
		}
		return s.err
	}
	w.t.setKind(id, nodeDir)
	w.loaded = append(w.loaded, dir)
	return w.addScan(s)
}

// needTargets tells whether an alias names a ref in a directory not
// loaded.
func (w *refWatcher) needTargets() bool {
	for _, t := range w.aliases {
		if t != "" && w.targetStub(t) != "" {
			return true
		}
	}
	return false
}

// targetStub returns the outermost stub above the ref t, or "".
func (w *refWatcher) targetStub(t string) string {
	id := uint32(rootNode)
	for i := 0; i < len(t); i++ {
		if t[i] != '/' {
			continue
		}
		start := strings.LastIndexByte(t[:i], '/') + 1
		if id = w.t.child(id, t[start:i]); id == noNode {
			return "" // no such directory
		}
		switch w.t.n(id).kind {
		case nodeStub:
			return t[:i]
		case nodeDir:
		default:
			return ""
		}
	}
	return ""
}

// loadTargets loads, in a lazy watch, the directories down to each ref
// an alias names, so that the alias follows it.
func (w *refWatcher) loadTargets(errs []error) []error {
	if !w.lazy {
		return errs
	}
	for range 1000 {
		var load []string
		for _, t := range w.aliases {
			if d := w.targetStub(t); d != "" && !slices.Contains(load, d) {
				load = append(load, d)
			}
		}
		if len(load) == 0 {
			return errs
		}
		for _, d := range load {
			if err := w.loadDir(d); err != nil {
				errs = append(errs, err)
				return errs
			}
		}
	}
	return errs
}

// check brings what is known of path p under refs/ up to date with the
// disk.
func (w *refWatcher) check(p string) error {
	isDirPath, isRefPath := refDirAllowed(p), refFileAllowed(p)
	if !isDirPath && !isRefPath {
		return nil // a temporary file, or outside the refs' directories
	}
	full := filepath.Join(w.r.path, "refs", filepath.FromSlash(p))
	var st unix.Stat_t
	err := unix.Lstat(full, &st)
	switch {
	case err == unix.ENOENT || err == unix.ENOTDIR:
		w.removeRef(p)
		w.goneDir(p)
		return nil
	case err != nil:
		return fmt.Errorf("look at ref %s: %w", full, err)
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		if id := w.t.find(p); id != noNode && w.t.n(id).kind == nodeDir {
			if w.n == nil || w.t.n(id).wd >= 0 {
				return nil
			}
			w.goneDir(p) // and made again, unwatched
		}
		if !isDirPath {
			return nil
		}
		w.removeRef(p)
		if w.lazy {
			w.addStub(p)
			return nil
		}
		return w.addScan(scanRefs(w.r.path, p, w.watchFunc()))
	}
	w.goneDir(p)
	if !isRefPath {
		return nil
	}
	c, ok, err := readRefFast(full)
	if !ok {
		w.removeRef(p)
		return err
	}
	target := ""
	symlink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if symlink {
		target = (&refWalk{refsDir: filepath.Join(w.r.path, "refs")}).aliasTarget(p, full)
	}
	w.setRef(p, c, symlink, target)
	return nil
}

// addScan takes in what a scan of a new directory found.
func (w *refWatcher) addScan(s *refWalk) error {
	slices.SortFunc(s.dirs, func(a, b scannedDir) int { return strings.Compare(a.path, b.path) }) // parents first
	for _, d := range s.dirs {
		id := w.t.find(d.path)
		switch {
		case id != noNode && w.t.isRef(id):
			w.removeRef(d.path)
			id = w.t.addPath(d.path, nodeDir)
		case id == noNode:
			id = w.t.addPath(d.path, nodeDir)
		case w.t.n(id).kind == nodeStub:
			w.t.setKind(id, nodeDir)
		}
		if id != noNode {
			w.t.setWd(id, d.wd)
		} else if d.wd >= 0 && w.n != nil {
			w.n.forget(d.wd)
		}
	}
	for _, d := range s.stubs {
		w.addStub(d)
	}
	for _, r := range s.refs {
		w.setRef(r.path, r.sum, r.alias, r.target)
	}
	if w.n != nil {
		w.forgetStray(s, w.t)
	}
	w.noteWatchErr(s)
	return s.err
}

func (w *refWatcher) touch(p string) {
	if _, ok := w.touched[p]; !ok {
		c, ok := w.refAt(p)
		w.touched[p] = refWas{c, ok}
	}
}

func (w *refWatcher) setRef(p string, c Checksum, symlink bool, target string) {
	w.touch(p)
	kind := nodeRef
	if symlink {
		kind = nodeAlias
	}
	id := w.t.find(p)
	if id != noNode && w.t.isDir(id) {
		w.goneDir(p)
		id = noNode
	}
	if id == noNode {
		if id = w.t.addPath(p, kind); id == noNode {
			return // in no directory known
		}
	} else {
		w.t.setKind(id, kind)
	}
	w.t.setSum(id, c)
	if symlink {
		w.aliases[p] = target
	} else {
		delete(w.aliases, p)
	}
}

func (w *refWatcher) removeRef(p string) {
	id := w.t.find(p)
	if id == noNode || !w.t.isRef(id) {
		return
	}
	w.touch(p)
	delete(w.aliases, p)
	w.t.remove(id, w.gone)
}

// addStub takes in the directory p, not read (lazy watches only).
func (w *refWatcher) addStub(p string) {
	if w.t.addPath(p, nodeStub) != noNode {
		w.dirChanges = append(w.dirChanges, RefChange{Name: p, Dir: true})
	}
}

// goneDir forgets the directory p and everything known below it.
func (w *refWatcher) goneDir(p string) {
	id := w.t.find(p)
	if p == "" || id == noNode || !w.t.isDir(id) {
		return
	}
	if w.lazy {
		w.dirChanges = append(w.dirChanges, RefChange{Name: p, Dir: true, Deleted: true})
	}
	w.t.walk(id, p, func(k uint32, kp string) {
		if w.t.isRef(k) {
			w.touch(kp)
			delete(w.aliases, kp)
		}
	})
	w.t.remove(id, w.gone)
}

// poll looks at all of refs/ every fallbackPoll or more until ctx is
// done, after telling fn why.
func (w *refWatcher) poll(ctx context.Context, why error) {
	w.mu.Lock()
	w.fn(RefEvent{Err: why})
	timer := time.NewTimer(w.full(fallbackPoll))
	w.mu.Unlock()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			w.mu.Lock()
			timer.Reset(w.full(fallbackPoll))
			w.mu.Unlock()
		}
	}
}
