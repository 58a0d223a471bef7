package fusefs

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/repofs/repofs/repo"
)

// commitsPoll is the period of the look for commits that went (pruned by
// repofs or ostree, neither of which need touch a ref) and for those that
// came without a ref update: a stat of each objects/XX directory and of
// state/ (see repo.CommitIndex), a directory read again only if it
// changed.
const commitsPoll = 500 * time.Millisecond

// commitsState keeps the index of complete commits behind commits/.
type commitsState struct {
	idx *repo.CommitIndex

	mu sync.Mutex
	// gone are the commits the previous refresh found removed: the kernel
	// is told to forget them once more, in case a lookup in flight then
	// gave them back to it.
	gone []repo.Checksum
}

// refreshCommits brings the index of commits/ up to date; the commits
// that went also leave the cache of commits, so that a lookup reads the
// disk, and fails. It returns what the kernel must be told (see
// notifyCommits).
func (f *FS) refreshCommits() (commitsNotice, error) {
	s := &f.commitsIdx
	s.mu.Lock()
	defer s.mu.Unlock()
	added, removed, err := s.idx.Refresh()
	if err != nil {
		return commitsNotice{}, err
	}
	listing := len(added)+len(removed) > 0
	// A commit that only became partial again (a pull that resumed a
	// transaction marks it so while it runs) leaves the listing, but its
	// object is still there: a process reading inside it keeps it
	// (DESIGN invariant 5). Only a commit whose object went is forgotten.
	removed = slices.DeleteFunc(removed, func(c repo.Checksum) bool {
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
	}
	return n, nil
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

// watchCommits refreshes the index of commits/ every commitsPoll until ctx
// is done.
func (f *FS) watchCommits(ctx context.Context) {
	t := time.NewTicker(commitsPoll)
	defer t.Stop()
	for {
		f.refreshNotify()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
