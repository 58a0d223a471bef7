package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CommitEvent is what a CommitIndex saw change while it watched.
type CommitEvent struct {
	// Added are the commits that became complete, Removed the ones that
	// stopped being (their object went, or they were marked partial
	// again), each sorted.
	Added, Removed []Checksum
	// Err, when set, is a problem the watch survives: the index could not
	// be brought up to date (the previous view stands and the next look
	// tries again), or change notifications are unavailable (it polls).
	Err error
}

// CommitWatchOptions tunes (*CommitIndex).Watch.
type CommitWatchOptions struct {
	// Poll is the shortest period of the safety-net look that catches a
	// change notifications missed (default 10s): a stat of objects/XX
	// and state/, a directory read again only if it changed, so an idle
	// look costs 257 stats whatever the number of objects. The period
	// grows with the look's cost, as WatchOptions.Poll does.
	Poll time.Duration
}

const (
	defaultCommitPoll = 10 * time.Second
	// commitFallbackPoll is the period of the look without notifications.
	commitFallbackPoll = 500 * time.Millisecond
)

// commitLookShare is how many looks' time a watch with notifications
// waits after a safety-net look, at least: an idle watch spends 1/500th
// of its time looking. A variable for tests, whose looks on a loaded
// machine would otherwise be a minute apart.
var commitLookShare = time.Duration(500)

// commitsMask catches a commit object or a .commitpartial that comes
// (renamed in, linked in from O_TMPFILE, written in place) or goes
// (deleted by a prune, renamed away).
const commitsMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_ONLYDIR

// Watched directories that are not objects/XX.
const (
	wdRepo    = -1 // the repository directory, for state/ made or gone
	wdObjects = -2 // objects/, for objects/XX made late
	wdState   = -3 // state/
)

// commitNotify is the inotify instance of a watching CommitIndex; only
// drain, under the index's lock, reads its events, so that a Refresh sees
// every change that happened before it.
type commitNotify struct {
	fd  int
	f   *os.File // for waiting in the runtime's poller
	wds map[int32]int
	// err is the first watch that could not be placed since Watch last
	// reported one.
	err error
	// cur is the watch of each directory, by the number wds maps to.
	cur map[int]int32
	buf []byte
}

// readInotify reads events and inotifyInit starts an instance; tests swap
// them to lose events or to have none.
var (
	readInotify = unix.Read
	inotifyInit = unix.InotifyInit1
)

// Watch keeps the index current until ctx is done, then returns; fn is
// told of every change that Watch applied (a Refresh meanwhile applies
// and returns its own). Changes are learnt from inotify on objects/XX and
// state/, so an idle watch does nothing but the safety-net look (see
// CommitWatchOptions.Poll), and a change costs the same with ten commits
// or a million; a queue overflow costs one full read. Without inotify it
// looks every 500ms or more. The calls to fn are sequential, from the
// goroutine that called Watch, never under the index's lock.
func (x *CommitIndex) Watch(ctx context.Context, o CommitWatchOptions, fn func(CommitEvent)) {
	if o.Poll <= 0 {
		o.Poll = defaultCommitPoll
	}
	report := func(added, removed []Checksum, err error) {
		if len(added)+len(removed) > 0 || err != nil {
			fn(CommitEvent{Added: added, Removed: removed, Err: err})
		}
	}
	added, removed, err := x.startNotify()
	if err != nil {
		report(added, removed, fmt.Errorf("watch commits of %s: polling every %v or more: %w", x.r.path, commitFallbackPoll, err))
		x.poll(ctx, commitFallbackPoll, 20, report)
		return
	}
	ready := x.waitReadable(ctx)
	defer func() {
		x.stopNotify()
		for range ready { // until its goroutine is gone
		}
	}()
	report(added, removed, nil)
	// A directory that could not be watched is looked at as often as
	// without notifications.
	period, share := o.Poll, commitLookShare
	degrade := func() {
		if err := x.takeWatchErr(); err != nil {
			report(nil, nil, fmt.Errorf("watch commits of %s: polling every %v or more: %w", x.r.path, commitFallbackPoll, err))
			period, share = commitFallbackPoll, 20
		}
	}
	degrade()
	timer := time.NewTimer(period)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-ready:
			if !ok {
				return // closed: ctx is done
			}
			added, removed, err := x.Refresh()
			report(added, removed, err)
			degrade()
		case <-timer.C:
			start := time.Now()
			added, removed, err := x.look()
			report(added, removed, err)
			degrade()
			timer.Reset(max(period, share*time.Since(start)))
		}
	}
}

// takeWatchErr returns the watch that could not be placed, once.
func (x *CommitIndex) takeWatchErr() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.n == nil {
		return nil
	}
	err := x.n.err
	x.n.err = nil
	return err
}

// poll refreshes every period or more (share times a look's duration)
// until ctx is done.
func (x *CommitIndex) poll(ctx context.Context, period time.Duration, share time.Duration, report func(a, r []Checksum, err error)) {
	for {
		start := time.Now()
		added, removed, err := x.Refresh()
		report(added, removed, err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(period, share*time.Since(start))):
		}
	}
}

// startNotify watches the directories that hold commits and partial
// markers, then brings the index up to date: what changed before a
// directory was watched is seen by reading it after.
func (x *CommitIndex) startNotify() (added, removed []Checksum, err error) {
	fd, err := inotifyInit(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("inotify: %w", err)
	}
	n := &commitNotify{fd: fd, f: os.NewFile(uintptr(fd), "inotify"), wds: map[int32]int{}, cur: map[int]int32{}, buf: make([]byte, 64<<10)}
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := n.watchAll(x.r); err != nil {
		n.f.Close()
		added, removed, rerr := x.lookLocked()
		return added, removed, errors.Join(err, rerr)
	}
	x.n = n
	added, removed, err = x.lookLocked()
	return added, removed, err
}

func (x *CommitIndex) stopNotify() {
	x.mu.Lock()
	n := x.n
	x.n = nil
	x.mu.Unlock()
	n.f.Close()
}

// watchAll watches the repository directory, objects/, state/ and every
// objects/XX.
func (n *commitNotify) watchAll(r *Repo) error {
	if err := n.watch(r.path, wdRepo); err != nil {
		return err
	}
	if err := n.watch(r.objects, wdObjects); err != nil {
		return err
	}
	if err := n.watch(filepath.Join(r.path, "state"), wdState); err != nil {
		return err
	}
	for i := range 256 {
		if err := n.watch(filepath.Join(r.objects, fmt.Sprintf("%02x", i)), i); err != nil {
			return err
		}
	}
	return nil
}

// watch watches the directory p, which holds what which says; a missing
// directory is watched when its parent's event says it came.
func (n *commitNotify) watch(p string, which int) error {
	mask := uint32(commitsMask)
	if which == wdRepo {
		mask = commitsMask // for state/ alone
	}
	wd, err := unix.InotifyAddWatch(n.fd, p, mask)
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		return nil
	case errors.Is(err, unix.ENOSPC):
		err = fmt.Errorf("inotify watch %s: %w (raise fs.inotify.max_user_watches: a mount takes 259)", p, err)
	case err != nil:
		err = fmt.Errorf("inotify watch %s: %w", p, err)
	}
	if err != nil {
		if n.err == nil {
			n.err = err
		}
		return err
	}
	if old, ok := n.wds[int32(wd)]; ok && old != which && n.cur[old] == int32(wd) {
		delete(n.cur, old) // the same directory, moved
	}
	n.wds[int32(wd)] = which
	n.cur[which] = int32(wd)
	return nil
}

// waitReadable sends on the channel it returns each time events wait in
// the queue, until ctx is done; then it closes it. The events are left
// for drain.
func (x *CommitIndex) waitReadable(ctx context.Context) <-chan struct{} {
	c := make(chan struct{})
	rc, err := x.n.f.SyscallConn()
	go func() {
		defer close(c)
		if err != nil {
			return
		}
		for {
			err := rc.Read(func(fd uintptr) bool {
				m, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ)
				return err != nil || m > 0
			})
			if err != nil {
				return
			}
			select {
			case c <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return c
}

// drain applies the events waiting in the queue; under x.mu. It reports
// whether a commit or a marker changed, and whether events were lost.
func (x *CommitIndex) drain() (changed, lost bool, err error) {
	n := x.n
	for {
		m, err := readInotify(n.fd, n.buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) || m == 0 {
			return changed, lost, nil
		}
		if err != nil {
			return changed, true, fmt.Errorf("read inotify events: %w", err)
		}
		if !eachInotifyEvent(n.buf[:m], func(wd int32, mask uint32, name string) {
			c, l := x.apply(wd, mask, name)
			changed = changed || c
			lost = lost || l
		}) {
			lost = true
		}
	}
}

// apply applies one event; under x.mu.
func (x *CommitIndex) apply(wd int32, mask uint32, name string) (changed, lost bool) {
	n := x.n
	if mask&unix.IN_Q_OVERFLOW != 0 {
		return false, true
	}
	which, ok := n.wds[wd]
	if !ok {
		return false, false
	}
	if mask&unix.IN_IGNORED != 0 {
		delete(n.wds, wd) // gone; its parent's event says so
		if n.cur[which] == wd {
			delete(n.cur, which)
		}
		return false, false
	}
	came := mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0
	switch which {
	case wdRepo:
		if name != "state" || mask&unix.IN_ISDIR == 0 {
			return false, false
		}
		if came {
			// Made after the watch began: watch it, then read it.
			n.watch(filepath.Join(x.r.path, "state"), wdState)
		}
		x.staleState, x.anyStale = true, true
		return false, false
	case wdObjects:
		if len(name) != 2 || mask&unix.IN_ISDIR == 0 {
			return false, false
		}
		i, ok := parseHexByte(name)
		if !ok {
			return false, false
		}
		if came {
			// Objects may be in it already: read it once watched.
			n.watch(filepath.Join(x.r.objects, name), i)
		}
		x.stale[i], x.anyStale = true, true
		return false, false
	case wdState:
		s, ok := strings.CutSuffix(name, ".commitpartial")
		if !ok {
			return false, false
		}
		c, err := ParseChecksum(s)
		if err != nil {
			return false, false
		}
		_, had := x.partial[c]
		if came && !had {
			if x.partial == nil {
				x.partial = map[Checksum]struct{}{}
			}
			x.partial[c] = struct{}{}
			return true, false
		}
		if !came && had {
			delete(x.partial, c)
			return true, false
		}
		return false, false
	default:
		s, ok := strings.CutSuffix(name, "."+ObjCommit.Ext())
		if !ok {
			return false, false
		}
		c, err := ParseChecksum(fmt.Sprintf("%02x", which) + s)
		if err != nil {
			return false, false
		}
		d := &x.dirs[which]
		if came {
			return d.insert(c), false
		}
		return d.remove(c), false
	}
}

func parseHexByte(s string) (int, bool) {
	v := 0
	for i := range len(s) {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// watching tells whether the directory which is watched.
func (n *commitNotify) watching(which int) bool {
	_, ok := n.cur[which]
	return ok
}
