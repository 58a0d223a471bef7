package repo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// RefChange is one ref that was created, moved or deleted.
type RefChange struct {
	// Name is the ref's path under refs/, as AllRefs names it.
	Name string
	// Checksum is the commit the ref points to now; zero when Deleted.
	Checksum Checksum
	Deleted  bool
}

// RefEvent is what one look at refs/ found.
type RefEvent struct {
	// Changes are the refs that changed since the previous event (since
	// WatchOptions.Since for the first), sorted by name.
	Changes []RefChange
	// Err, when set, is a problem of the watch that it survives: refs/
	// could not be read (the previous view stands and the next look tries
	// again), or change notifications are unavailable or stopped (it
	// polls instead).
	Err error
}

// ErrRefsUnreadable marks a RefEvent.Err of a look that could not read
// refs/: the previous view stands, and the next look tries again.
var ErrRefsUnreadable = errors.New("refs could not be read")

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
}

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

// notifier reports which paths under refs/ may have changed: a change
// under refs/, or the repository directory's mtime bump that writers do
// at the end of a transaction (see touch), which names no path.
type notifier interface {
	// wake receives after changes; it is closed if notifications stop.
	wake() <-chan struct{}
	// take returns the paths under refs/ that changed since the last
	// take, and whether some changes went unreported (the kernel's queue
	// overflowed): then only a full look is exact.
	take() (paths []string, lost bool)
	// watch watches the directory dir under refs/ ("" is refs/).
	watch(dir string) error
	// forget stops watching dir, gone from refs/.
	forget(dir string)
	// watched tells whether dir is watched still: a directory deleted
	// and made again is not.
	watched(dir string) bool
	// close stops the notifier and waits for its goroutine.
	close()
}

// newNotifier starts the notifier of the repository at path; a test
// swaps it for one that fails.
var newNotifier = newInotify

// WatchRefs tells fn how the refs of r change, until ctx is done, then
// returns; nothing of it keeps running.
//
// fn is called after every look at refs/, with what changed since the
// previous call, which may be nothing; a caller may refresh there what
// depends on the repository as a whole (a new commit comes with a ref
// update). The first look reads all of refs/ at once and watches every
// directory under it; later ones read only the paths that notifications
// name (after WatchOptions.Settle), so a change costs the same with ten
// refs or a hundred thousand. A full look follows an overflow of the
// notification queue, and WatchOptions.Poll sets the shortest period of
// the safety-net full look. Without change notifications, all of refs/
// is read every 100ms or more. The calls are sequential, from the
// goroutine that called WatchRefs.
func (r *Repo) WatchRefs(ctx context.Context, o WatchOptions, fn func(RefEvent)) {
	if o.Poll <= 0 {
		o.Poll = defaultRefPoll
	}
	if o.Settle <= 0 {
		o.Settle = defaultSettle
	}
	w := newRefWatcher(r, o.Since, fn)
	n, err := newNotifier(r.path)
	if err != nil {
		w.poll(ctx, fmt.Errorf("watch refs of %s: polling every %v or more: %w", r.path, fallbackPoll, err))
		return
	}
	defer n.close()
	w.n = n
	timer := time.NewTimer(w.full(o.Poll))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-n.wake():
			if !ok {
				w.n = nil
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
			paths, lost := n.take()
			if lost || w.again {
				timer.Reset(w.full(o.Poll))
			} else {
				w.incremental(paths)
			}
		case <-timer.C:
			timer.Reset(w.full(o.Poll))
		}
	}
}

// refWatcher is the state of one WatchRefs: the refs as the last event
// left them, and the directories that hold them.
type refWatcher struct {
	r  *Repo
	fn func(RefEvent)
	n  notifier // nil while polling

	refs    map[string]Checksum
	aliases map[string]string // alias ref → the ref it names ("" outside refs/)
	// dirs are the directories under refs/ known to exist, each with the
	// number of refs and directories known below it: a directory that
	// goes with nothing below costs no search.
	dirs map[string]int
	// again asks for a full look: a read failed, or a watch could not be
	// placed.
	again    bool
	degraded bool
	// touched holds, during an incremental look, each ref it changed
	// with its value before.
	touched map[string]refWas
}

type refWas struct {
	c  Checksum
	ok bool
}

func newRefWatcher(r *Repo, since map[string]Checksum, fn func(RefEvent)) *refWatcher {
	refs := maps.Clone(since)
	if refs == nil {
		refs = map[string]Checksum{}
	}
	return &refWatcher{r: r, fn: fn, refs: refs, aliases: map[string]string{}, dirs: map[string]int{}}
}

func (w *refWatcher) watchFunc() func(string) error {
	if w.n == nil {
		return nil
	}
	return w.n.watch
}

// full reads all of refs/, tells fn what changed, and returns when the
// next safety-net look is due: min after it, or later in proportion to
// the look's cost.
func (w *refWatcher) full(min time.Duration) time.Duration {
	start := time.Now()
	s := scanRefs(w.r.path, "", w.watchFunc())
	took := time.Since(start)
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
	changes := diffRefs(w.refs, s.refs)
	slices.Sort(s.dirs) // parents first
	dirs := make(map[string]int, len(s.dirs))
	for _, d := range s.dirs {
		addBelow(dirs, d)
		dirs[d] = 0
	}
	for p := range s.refs {
		addBelow(dirs, p)
	}
	if w.n != nil {
		for d := range w.dirs {
			if _, ok := dirs[d]; !ok {
				w.n.forget(d)
			}
		}
	}
	w.refs, w.aliases, w.dirs = s.refs, s.aliases, dirs
	w.fn(RefEvent{Changes: changes})
	return next
}

// noteWatchErr reports a watch that could not be placed: from then on
// the safety-net look runs as often as without notifications.
func (w *refWatcher) noteWatchErr(s *refScan) {
	if s.watchErr != nil {
		w.degraded = true
		w.fn(RefEvent{Err: fmt.Errorf("watch refs of %s: polling every %v or more: %w", w.r.path, fallbackPoll, s.watchErr)})
	}
}

// addBelow counts p in every known directory above it.
func addBelow(dirs map[string]int, p string) { countBelow(dirs, p, 1) }

func countBelow(dirs map[string]int, p string, d int) {
	for p != "" {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			p = ""
		} else {
			p = p[:i]
		}
		if _, ok := dirs[p]; ok {
			dirs[p] += d
		}
	}
}

// incremental reads the paths that notifications named, and the aliases
// of the refs that changed, and tells fn what changed.
func (w *refWatcher) incremental(paths []string) {
	w.touched = map[string]refWas{}
	defer func() { w.touched = nil }()
	slices.Sort(paths) // a directory before what is in it
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
	var changes []RefChange
	for p, was := range w.touched {
		c, ok := w.refs[p]
		switch {
		case ok && (!was.ok || was.c != c):
			changes = append(changes, RefChange{Name: p, Checksum: c})
		case !ok && was.ok:
			changes = append(changes, RefChange{Name: p, Deleted: true})
		}
	}
	slices.SortFunc(changes, func(a, b RefChange) int { return strings.Compare(a.Name, b.Name) })
	for _, err := range errs {
		w.again = true
		w.fn(RefEvent{Err: fmt.Errorf("watch refs of %s: %w: %w", w.r.path, ErrRefsUnreadable, err)})
	}
	w.fn(RefEvent{Changes: changes})
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
		if _, known := w.dirs[p]; known {
			if w.n == nil || w.n.watched(p) {
				return nil
			}
			w.goneDir(p) // and made again, unwatched
		}
		if !isDirPath {
			return nil
		}
		w.removeRef(p)
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
		target = (&refScan{root: filepath.Join(w.r.path, "refs")}).aliasTarget(p, full)
	}
	w.setRef(p, c, symlink, target)
	return nil
}

// addScan takes in what a scan of a new directory found.
func (w *refWatcher) addScan(s *refScan) error {
	slices.Sort(s.dirs)
	for _, d := range s.dirs {
		if _, ok := w.dirs[d]; !ok {
			addBelow(w.dirs, d)
			w.dirs[d] = 0
		}
	}
	for p, c := range s.refs {
		t, symlink := s.aliases[p]
		w.setRef(p, c, symlink, t)
	}
	w.noteWatchErr(s)
	return s.err
}

func (w *refWatcher) touch(p string) {
	if _, ok := w.touched[p]; !ok {
		c, ok := w.refs[p]
		w.touched[p] = refWas{c, ok}
	}
}

func (w *refWatcher) setRef(p string, c Checksum, symlink bool, target string) {
	w.touch(p)
	if _, ok := w.refs[p]; !ok {
		addBelow(w.dirs, p)
	}
	w.refs[p] = c
	if symlink {
		w.aliases[p] = target
	} else {
		delete(w.aliases, p)
	}
}

func (w *refWatcher) removeRef(p string) {
	if _, ok := w.refs[p]; !ok {
		return
	}
	w.touch(p)
	delete(w.refs, p)
	delete(w.aliases, p)
	countBelow(w.dirs, p, -1)
}

// goneDir forgets the directory p and everything known below it.
func (w *refWatcher) goneDir(p string) {
	below, ok := w.dirs[p]
	if !ok {
		return
	}
	if below > 0 {
		prefix := p + "/"
		for r := range w.refs {
			if strings.HasPrefix(r, prefix) {
				w.removeRef(r)
			}
		}
		for d := range w.dirs {
			if strings.HasPrefix(d, prefix) {
				w.dropDir(d)
			}
		}
	}
	w.dropDir(p)
}

func (w *refWatcher) dropDir(d string) {
	if _, ok := w.dirs[d]; !ok {
		return
	}
	delete(w.dirs, d)
	countBelow(w.dirs, d, -1)
	if w.n != nil {
		w.n.forget(d)
	}
}

// poll looks at all of refs/ every fallbackPoll or more until ctx is
// done, after telling fn why.
func (w *refWatcher) poll(ctx context.Context, why error) {
	w.fn(RefEvent{Err: why})
	for {
		next := w.full(fallbackPoll)
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// diffRefs returns how to go from old to cur, sorted by name.
func diffRefs(old, cur map[string]Checksum) []RefChange {
	var out []RefChange
	for name, c := range cur {
		if oc, ok := old[name]; !ok || oc != c {
			out = append(out, RefChange{Name: name, Checksum: c})
		}
	}
	for name := range old {
		if _, ok := cur[name]; !ok {
			out = append(out, RefChange{Name: name, Deleted: true})
		}
	}
	slices.SortFunc(out, func(a, b RefChange) int { return strings.Compare(a.Name, b.Name) })
	return out
}
