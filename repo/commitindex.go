package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CompleteCommits lists the commits that are present and complete (no
// state/<commit>.commitpartial), sorted: one read of objects/ and of
// state/, not a look at each commit's marker.
func (r *Repo) CompleteCommits() ([]Checksum, error) {
	cs, err := r.ListCommits()
	if err != nil {
		return nil, fmt.Errorf("list commits: %w", err)
	}
	partial, err := r.partialCommits()
	if err != nil {
		return nil, err
	}
	out := cs[:0]
	for _, c := range cs {
		if _, p := partial[c]; !p {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Checksum) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

// partialCommits returns the commits marked partial in state/.
func (r *Repo) partialCommits() (map[Checksum]struct{}, error) {
	f, err := os.Open(filepath.Join(r.path, "state"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list partial commits: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list partial commits: %w", err)
	}
	out := map[Checksum]struct{}{}
	for _, n := range names {
		if s, ok := strings.CutSuffix(n, ".commitpartial"); ok {
			if c, err := ParseChecksum(s); err == nil {
				out[c] = struct{}{}
			}
		}
	}
	return out, nil
}

// CommitIndex keeps the list of complete commits of a repository current.
// While Watch runs, inotify says which commit objects and .commitpartial
// markers came and went, and Refresh applies what it said since; without
// it, Refresh stats each objects/XX directory and state/, and reads again
// only a directory whose times moved since it was last read (a new
// commit object, a pruned one and a marker made or removed all change
// their directory's times). Its methods may be called from several
// goroutines.
type CommitIndex struct {
	r *Repo

	mu   sync.Mutex
	dirs [256]indexedDir
	// state is state/: its stamp and the partial commits in it.
	state    dirStamp
	partial  map[Checksum]struct{}
	complete []Checksum // sorted; replaced, never modified
	read     bool       // complete was computed once
	// n is the inotify instance while Watch runs; the directories its
	// events said appeared are read again by the next look.
	n          *commitNotify
	stale      [256]bool
	staleState bool
	anyStale   bool
}

type indexedDir struct {
	stamp   dirStamp
	commits []Checksum // sorted
}

// insert adds c, telling whether it was new.
func (d *indexedDir) insert(c Checksum) bool {
	i, ok := slices.BinarySearchFunc(d.commits, c, compareChecksums)
	if !ok {
		d.commits = slices.Insert(d.commits, i, c)
	}
	return !ok
}

// remove removes c, telling whether it was there.
func (d *indexedDir) remove(c Checksum) bool {
	i, ok := slices.BinarySearchFunc(d.commits, c, compareChecksums)
	if ok {
		d.commits = slices.Delete(d.commits, i, i+1)
	}
	return ok
}

// dirStamp is what tells that a directory's entries may have changed: a
// directory moved or made again has another inode; an entry added,
// removed or renamed sets its modification and change times.
type dirStamp struct {
	ino          uint64
	mtime, ctime unix.Timespec
	ok           bool
}

// racyWindow is how recent a directory's times may be for its listing to
// be read again next time: file systems stamp times at the kernel's clock
// tick, so a change in the same tick as the listing leaves them as they
// were.
const racyWindow = 100 * time.Millisecond

// NewCommitIndex returns an index of the complete commits of r; the first
// Refresh reads all of objects/.
func (r *Repo) NewCommitIndex() *CommitIndex { return &CommitIndex{r: r} }

func statDir(p string, now time.Time) (dirStamp, bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return dirStamp{}, false, nil
		}
		return dirStamp{}, false, err
	}
	s := dirStamp{ino: st.Ino, mtime: st.Mtim, ctime: st.Ctim, ok: true}
	// Trust the stamp only once the clock has moved past it.
	newest := max(time.Unix(st.Mtim.Unix()).UnixNano(), time.Unix(st.Ctim.Unix()).UnixNano())
	if now.UnixNano()-newest < int64(racyWindow) {
		s.ok = false
	}
	return s, true, nil
}

// Refresh brings the index up to date with the disk and returns the
// complete commits that appeared and that went since the previous
// Refresh or event of Watch (none the first time). While Watch runs it
// costs in proportion to the changes: every change made before Refresh
// was called is seen.
func (x *CommitIndex) Refresh() (added, removed []Checksum, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.n == nil || !x.read {
		return x.lookLocked()
	}
	changed, lost, err := x.drain()
	if err != nil || lost {
		// The notifications are incomplete: read everything.
		x.markAllStale()
		c, rerr := x.rereadStale()
		if rerr != nil {
			return nil, nil, errors.Join(err, rerr)
		}
		changed = changed || c
	} else if x.anyStale {
		c, err := x.rereadStale()
		if err != nil {
			return nil, nil, err
		}
		changed = changed || c
	}
	return x.publish(changed)
}

// look is the safety-net look of a watching index.
func (x *CommitIndex) look() (added, removed []Checksum, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.lookLocked()
}

// lookLocked stats objects/XX and state/ and reads again each that
// changed (or is marked stale), then applies the notifications waiting;
// under x.mu.
func (x *CommitIndex) lookLocked() (added, removed []Checksum, err error) {
	now := time.Now()
	changed := false
	for i := range x.dirs {
		c, err := x.readDir(i, now, x.stale[i])
		if err != nil {
			return nil, nil, err
		}
		changed = changed || c
	}
	c, err := x.readState(now, x.staleState)
	if err != nil {
		return nil, nil, err
	}
	changed = changed || c
	x.stale, x.staleState, x.anyStale = [256]bool{}, false, false
	if x.n != nil {
		// What happened during the reads, and may be in them already:
		// applying it again leaves each name as its last event says.
		c, lost, err := x.drain()
		if err != nil {
			return nil, nil, err
		}
		changed = changed || c
		if lost || x.anyStale {
			if lost {
				x.markAllStale()
			}
			c, err := x.rereadStale()
			if err != nil {
				return nil, nil, err
			}
			changed = changed || c
		}
	}
	return x.publish(changed)
}

// markAllStale has every directory read, and watched, again: after an
// overflow, even the events that said a directory went or came may be
// lost.
func (x *CommitIndex) markAllStale() {
	if x.n != nil {
		clear(x.n.cur)
	}
	for i := range x.stale {
		x.stale[i] = true
	}
	x.staleState, x.anyStale = true, true
}

// rereadStale reads the directories marked stale, then the events that
// came meanwhile, until none is stale; under x.mu.
func (x *CommitIndex) rereadStale() (changed bool, err error) {
	for x.anyStale {
		now := time.Now()
		stale, staleState := x.stale, x.staleState
		x.stale, x.staleState, x.anyStale = [256]bool{}, false, false
		for i := range x.dirs {
			if stale[i] {
				c, err := x.readDir(i, now, true)
				if err != nil {
					return changed, err
				}
				changed = changed || c
			}
		}
		if staleState {
			c, err := x.readState(now, true)
			if err != nil {
				return changed, err
			}
			changed = changed || c
		}
		if x.n != nil {
			c, lost, err := x.drain()
			if err != nil {
				return changed, err
			}
			changed = changed || c
			if lost {
				x.markAllStale()
			}
		}
	}
	return changed, nil
}

// readDir reads objects/XX for i again if its stamp moved, or always if
// force; it tells whether its commits changed.
func (x *CommitIndex) readDir(i int, now time.Time, force bool) (bool, error) {
	d := &x.dirs[i]
	name := fmt.Sprintf("%02x", i)
	p := filepath.Join(x.r.objects, name)
	s, exists, err := statDir(p, now)
	if err != nil {
		return false, fmt.Errorf("list commits: %w", err)
	}
	if !exists {
		changed := len(d.commits) > 0
		*d = indexedDir{}
		return changed, nil
	}
	if x.n != nil && !x.n.watching(i) {
		// Made while its event was lost: watch it from now on.
		x.n.watch(p, i) // a failure is reported by Watch
		force = true
	}
	if !force && d.stamp.ok && d.stamp == s {
		return false, nil
	}
	cs, err := readCommitNames(p, name)
	if err != nil {
		return false, err
	}
	changed := !slices.Equal(cs, d.commits)
	d.stamp, d.commits = s, cs
	return changed, nil
}

// readState reads state/ again if its stamp moved, or always if force; it
// tells whether the partial commits changed.
func (x *CommitIndex) readState(now time.Time, force bool) (bool, error) {
	p := filepath.Join(x.r.path, "state")
	s, exists, err := statDir(p, now)
	if err != nil {
		return false, fmt.Errorf("list partial commits: %w", err)
	}
	if exists && x.n != nil && !x.n.watching(wdState) {
		x.n.watch(p, wdState) // a failure is reported by Watch
		force = true
	}
	if !force && x.state.ok && x.state == s {
		return false, nil
	}
	partial, err := x.r.partialCommits()
	if err != nil {
		return false, err
	}
	changed := !maps.Equal(partial, x.partial)
	x.state, x.partial = s, partial
	return changed, nil
}

// publish computes the complete commits again if changed, and returns
// how they differ from the previous ones; under x.mu.
func (x *CommitIndex) publish(changed bool) (added, removed []Checksum, err error) {
	if x.read && !changed {
		return nil, nil, nil
	}
	var complete []Checksum
	for i := range x.dirs {
		for _, c := range x.dirs[i].commits {
			if _, p := x.partial[c]; !p {
				complete = append(complete, c)
			}
		}
	}
	if x.read {
		added, removed = diffSorted(x.complete, complete)
	}
	x.complete, x.read = complete, true
	return added, removed, nil
}

// Commits returns the complete commits as the last Refresh saw them,
// sorted; the caller must not modify the slice.
func (x *CommitIndex) Commits() []Checksum {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.complete
}

// Contains tells whether the last Refresh saw c complete.
func (x *CommitIndex) Contains(c Checksum) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := slices.BinarySearchFunc(x.complete, c, compareChecksums)
	return ok
}

func compareChecksums(a, b Checksum) int { return bytes.Compare(a[:], b[:]) }

// readCommitNames lists the commit objects in the objects/ directory p,
// whose name is the checksums' first byte in hex, sorted.
func readCommitNames(p, prefix string) ([]Checksum, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list commits: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list commits in %s: %w", p, err)
	}
	var out []Checksum
	for _, n := range names {
		if s, ok := strings.CutSuffix(n, "."+ObjCommit.Ext()); ok {
			if c, err := ParseChecksum(prefix + s); err == nil {
				out = append(out, c)
			}
		}
	}
	slices.SortFunc(out, compareChecksums)
	return out, nil
}

// diffSorted returns what is in b and not in a, and what is in a and not
// in b; both are sorted.
func diffSorted(a, b []Checksum) (added, removed []Checksum) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && compareChecksums(a[i], b[j]) < 0:
			removed = append(removed, a[i])
			i++
		case i == len(a) || compareChecksums(a[i], b[j]) > 0:
			added = append(added, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return added, removed
}
