package repo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
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

// WatchOptions tunes WatchRefs.
type WatchOptions struct {
	// Since is the view of refs the caller already has (as AllRefs
	// returns it); the first event holds the changes from it. Nil is no
	// refs, so the first event lists every ref. WatchRefs keeps a copy.
	Since map[string]Checksum
	// Poll is the period of the full look that catches any change a
	// notification missed (default 2s).
	Poll time.Duration
	// Settle is how long a notification waits for the rest of its burst
	// before refs/ is read (default 5ms): a ref update is a create, a
	// rename and the repository's mtime bump.
	Settle time.Duration
}

const (
	defaultRefPoll = 2 * time.Second
	defaultSettle  = 5 * time.Millisecond
	// fallbackPoll is the period of the look at refs/ when change
	// notifications are unavailable.
	fallbackPoll = 100 * time.Millisecond
)

// notifier wakes the watcher when refs may have changed: a change under
// refs/, or the repository directory's mtime bump that writers do at the
// end of a transaction (see touch).
type notifier interface {
	// wake receives after changes; it is closed if notifications stop.
	wake() <-chan struct{}
	// rewatch watches the directories created under refs/ since.
	rewatch() error
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
// update). A look follows every change notification (after
// WatchOptions.Settle) and every WatchOptions.Poll; the first happens at
// once. Without change notifications, refs/ is read every 100ms. The calls
// are sequential, from the goroutine that called WatchRefs.
func (r *Repo) WatchRefs(ctx context.Context, o WatchOptions, fn func(RefEvent)) {
	if o.Poll <= 0 {
		o.Poll = defaultRefPoll
	}
	if o.Settle <= 0 {
		o.Settle = defaultSettle
	}
	w := &refWatcher{r: r, fn: fn, refs: maps.Clone(o.Since)}
	n, err := newNotifier(r.path)
	if err != nil {
		w.poll(ctx, fmt.Errorf("watch refs of %s: polling every %v: %w", r.path, fallbackPoll, err))
		return
	}
	defer n.close()
	w.look()
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-n.wake():
			if !ok {
				w.poll(ctx, fmt.Errorf("watch refs of %s: notifications stopped, polling every %v", r.path, fallbackPoll))
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
			if err := n.rewatch(); err != nil {
				fn(RefEvent{Err: fmt.Errorf("watch refs of %s: %w", r.path, err)})
			}
		case <-tick.C:
		}
		w.look()
	}
}

// refWatcher is the state of one WatchRefs.
type refWatcher struct {
	r    *Repo
	fn   func(RefEvent)
	refs map[string]Checksum // as the last event left them
}

// look reads refs/ and tells fn what changed.
func (w *refWatcher) look() {
	refs, err := w.r.AllRefs()
	if err != nil {
		w.fn(RefEvent{Err: fmt.Errorf("watch refs of %s: %w", w.r.path, err)})
		return
	}
	changes := diffRefs(w.refs, refs)
	w.refs = refs
	w.fn(RefEvent{Changes: changes})
}

// poll looks at refs/ every fallbackPoll until ctx is done, after telling
// fn why.
func (w *refWatcher) poll(ctx context.Context, why error) {
	w.fn(RefEvent{Err: why})
	tick := time.NewTicker(fallbackPoll)
	defer tick.Stop()
	for {
		w.look()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
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
