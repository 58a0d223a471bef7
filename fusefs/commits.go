package fusefs

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/repofs/repofs/repo"
)

// commitsPoll is the shortest period of the safety-net look at objects/
// behind the notifications that keep commits/ current (see
// repo.CommitWatchOptions): a stat of each objects/XX directory and of
// state/ when nothing changed.
var commitsPoll = 10 * time.Second // a variable for tests

// forgetAgain is when the kernel is told a second time to forget commits
// that went, in case a lookup in flight gave them back to it.
const forgetAgain = time.Second

// commitsState keeps the index of complete commits behind commits/.
type commitsState struct {
	idx *repo.CommitIndex

	mu sync.Mutex
	// gone are the commits the previous refresh found removed: the kernel
	// is told to forget them once more (forgetAgain after), in case a
	// lookup in flight then gave them back to it.
	gone []repo.Checksum
}

// refreshCommits brings the index of commits/ up to date (applying what
// the watch was told since its last event) and returns what the kernel
// must be told (see notifyCommits).
func (f *FS) refreshCommits() (commitsNotice, error) {
	s := &f.commitsIdx
	s.mu.Lock()
	defer s.mu.Unlock()
	added, removed, err := s.idx.Refresh()
	if err != nil {
		return commitsNotice{}, err
	}
	return f.commitsChanged(added, removed), nil
}

// commitsChanged takes note of commits that came and went, under
// commitsIdx.mu: those whose object went also leave the cache of commits,
// so that a lookup reads the disk, and fails. It returns what the kernel
// must be told.
func (f *FS) commitsChanged(added, removed []repo.Checksum) commitsNotice {
	s := &f.commitsIdx
	listing := len(added)+len(removed) > 0
	// A commit that only became partial again (a pull that resumed a
	// transaction marks it so while it runs) leaves the listing, but its
	// object is still there: a process reading inside it keeps it
	// (DESIGN invariant 5). Only a commit whose object went is forgotten.
	removed = slices.DeleteFunc(slices.Clone(removed), func(c repo.Checksum) bool {
		has, err := f.r.HasObject(c, repo.ObjCommit)
		return err == nil && has
	})
	n := commitsNotice{listing: listing, forget: append(s.gone, removed...)}
	s.gone = removed
	if len(removed) > 0 {
		f.mu.Lock()
		for _, c := range removed {
			delete(f.commits, c)
		}
		f.mu.Unlock()
		f.log.Debug("fusefs: commits removed", "removed", len(removed))
		// Tell the kernel once more (s.gone), as the poll once did.
		time.AfterFunc(forgetAgain, f.refreshNotify)
	}
	return n
}

// commitsNotice is what the kernel must forget of commits/ after a
// refresh: its listing, and the entries of commits that went.
type commitsNotice struct {
	listing bool
	forget  []repo.Checksum
}

// notifyCommits tells the kernel. Never from within a request on
// commits/: the kernel takes the directory's lock for an invalidation, and
// a listing holds it until its reply.
func (f *FS) notifyCommits(n commitsNotice) {
	dir := f.refs.commits.Load()
	if dir == nil {
		return
	}
	if n.listing {
		dir.NotifyContent(0, 0)
	}
	for _, c := range n.forget {
		dir.NotifyEntry(c.String())
	}
}

// refreshNotify refreshes commits/ and tells the kernel.
func (f *FS) refreshNotify() {
	n, err := f.refreshCommits()
	if err != nil {
		f.log.Error("fusefs: list commits", "err", err)
	}
	f.notifyCommits(n)
}

// watchCommits keeps the index of commits/ current until ctx is done,
// and tells the kernel what changed.
func (f *FS) watchCommits(ctx context.Context) {
	f.commitsIdx.idx.Watch(ctx, repo.CommitWatchOptions{Poll: commitsPoll}, func(ev repo.CommitEvent) {
		if ev.Err != nil {
			f.log.Error("fusefs: watch commits", "err", ev.Err)
		}
		s := &f.commitsIdx
		s.mu.Lock()
		n := f.commitsChanged(ev.Added, ev.Removed)
		s.mu.Unlock()
		f.notifyCommits(n)
	})
}
