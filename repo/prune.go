package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/tmpdir"
)

// PruneOptions selects what Prune keeps, with the options and meaning of
// `ostree prune` (2022.7).
type PruneOptions struct {
	// NoPrune only counts what would be deleted (static deltas of missing
	// commits and stale summary caches are still removed, as ostree does).
	NoPrune bool
	// RefsOnly keeps only what refs reach; without it every commit present
	// is a root, so only objects no commit reaches are deleted.
	RefsOnly bool
	// Depth is how many parents of each root are kept; -1 is all of them.
	Depth int
	// DeleteCommit, when set, deletes that commit first (it must not be a
	// ref's target), leaving a tombstone and enabling core.tombstone-commits.
	DeleteCommit string
	// StaticDeltasOnly with DeleteCommit deletes only the static deltas
	// that lead to that commit.
	StaticDeltasOnly bool
	// KeepYoungerThan, when not zero, keeps each ref's commit and its
	// ancestors back to the first one older than this.
	KeepYoungerThan time.Time
	// OnlyBranches prunes only these refs: every other ref keeps its whole
	// history (unless RetainBranchDepth says otherwise).
	OnlyBranches []string
	// RetainBranchDepth keeps that many parents of the named refs. As in
	// ostree 2022.7, a depth of 0 is the same as none given (the ref gets
	// Depth or KeepYoungerThan), except that OnlyBranches leaves it alone.
	RetainBranchDepth map[string]int
	// KeepMirrorRefs keeps the whole history of every ref under
	// refs/mirrors as well. ostree's selective path (OnlyBranches,
	// RetainBranchDepth, KeepYoungerThan) does not look at them, so
	// without it their objects go; repofs's own retention sets it, as a
	// mirror must lose nothing to a retention of other refs.
	KeepMirrorRefs bool
	// CommitOnly considers and deletes commit objects only.
	CommitOnly bool
	// Lock, when set, is called with the exclusive lock held, before
	// reachability is computed (a test seam for races).
	Lock func()
}

// selective reports whether the options need ostree's second prune path:
// refs only, each ref with its own depth.
func (o *PruneOptions) selective() bool {
	return o.RetainBranchDepth != nil || !o.KeepYoungerThan.IsZero() || len(o.OnlyBranches) > 0
}

// PruneResult counts what Prune found, as `ostree prune` prints it.
type PruneResult struct {
	Total  int    // objects considered (commits only with CommitOnly)
	Pruned int    // objects deleted (or that would be, with NoPrune)
	Freed  uint64 // bytes of the objects pruned, as stored
}

// ErrReferenced means a commit to delete is the target of a ref.
var ErrReferenced = errors.New("commit is referenced")

// referencedError says, in ostree's words, which ref names a commit.
type referencedError struct{ msg string }

func (e *referencedError) Error() string { return e.msg }
func (e *referencedError) Unwrap() error { return ErrReferenced }

// wordedError is err said in ostree's words.
type wordedError struct {
	msg string
	err error
}

func (e *wordedError) Error() string { return e.msg }
func (e *wordedError) Unwrap() error { return e.err }

// Prune deletes the objects that the options do not keep. It holds
// repo/.lock exclusively from before reachability is computed until the
// last object is deleted, so a transaction (which holds it shared) can
// never land objects between the two; it waits up to
// core.lock-timeout-secs and then fails with ErrLocked.
//
// Deleting a commit also deletes its .commitmeta and its commitpartial
// marker, and writes a tombstone when core.tombstone-commits is true.
// Unreachable commits are deleted before any other object, so that a prune
// interrupted half way never leaves a commit whose tree is incomplete.
func (r *Repo) Prune(ctx context.Context, o PruneOptions) (*PruneResult, error) {
	lock, err := r.lockRepo(ctx, tmpdir.Exclusive)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if o.Lock != nil {
		o.Lock()
	}
	p := &pruner{r: r, o: &o}
	if p.tombstones, err = r.config.Bool("core", "tombstone-commits", false); err != nil {
		return nil, fmt.Errorf("prune %s: %w", r.path, err)
	}
	if o.DeleteCommit != "" {
		if o.NoPrune {
			return nil, errors.New("Cannot specify both --delete-commit and --no-prune")
		}
		if o.StaticDeltasOnly {
			err = r.pruneStaticDeltas(o.DeleteCommit)
		} else {
			err = p.deleteCommit(o.DeleteCommit)
		}
		if err != nil {
			return nil, err
		}
	} else if o.StaticDeltasOnly {
		return nil, errors.New("--static-deltas-only requires --delete-commit; see https://github.com/ostreedev/ostree/issues/1479")
	}
	if err := p.reach(ctx); err != nil {
		return nil, err
	}
	if err := p.sweep(ctx); err != nil {
		return nil, err
	}
	if !o.NoPrune {
		// Still under the exclusive lock: no checkout fills the cache.
		if _, err := r.DropStaleUncompressed(ctx); err != nil {
			return nil, fmt.Errorf("prune %s: %w", r.path, err)
		}
		if err := r.ForgetVerified(ctx, nil, true); err != nil {
			return nil, fmt.Errorf("prune %s: %w", r.path, err)
		}
	}
	if err := r.pruneStaticDeltas(""); err != nil {
		return nil, err
	}
	if err := r.pruneSummaryCache(); err != nil {
		return nil, err
	}
	return &p.res, nil
}

// pruner is one run of Prune.
type pruner struct {
	r          *Repo
	o          *PruneOptions
	tombstones bool
	keep       reachSet
	res        PruneResult
}

// deleteCommit deletes one commit that no ref names, as `ostree prune
// --delete-commit` does: it turns tombstones on in config first.
func (p *pruner) deleteCommit(rev string) error {
	refs, err := p.r.ListRefs("", false)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if ref.Checksum.String() == rev {
			return &referencedError{fmt.Sprintf("Commit '%s' is referenced by '%s'", rev, ref)}
		}
	}
	mirrors, err := p.r.ListMirrorRefs()
	if err != nil {
		return err
	}
	for _, ref := range mirrors {
		if ref.Checksum.String() == rev {
			return &referencedError{fmt.Sprintf("Commit '%s' is referenced by (%s, %s)", rev, ref.Collection, ref.Name)}
		}
	}
	c, err := ParseChecksum(rev)
	if err != nil {
		return fmt.Errorf("Deleting object %s.commit: %w", rev, err)
	}
	if !p.tombstones {
		cfg, err := p.r.ReadConfig()
		if err != nil {
			return err
		}
		cfg.Set("core", "tombstone-commits", "true")
		if err := p.r.WriteConfig(cfg); err != nil {
			return err
		}
		p.tombstones = true
	}
	_, err = p.deleteCommitObject(c, false)
	return err
}

// deleteCommitObject removes a commit (its commitpartial marker too when
// unmark, as pruning does) and its detached metadata, and leaves a
// tombstone if so configured. It returns the commit's size.
func (p *pruner) deleteCommitObject(c Checksum, unmark bool) (int64, error) {
	// unlink(2), not os.Remove: these are files, and os.Remove tries
	// rmdir(2) after every unlink that fails, which for a marker or
	// detached metadata that is absent is every time.
	if unmark {
		if err := unix.Unlink(p.r.partialPath(c)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("prune: unmark partial commit %s: %w", c, err)
		}
	}
	if err := unix.Unlink(p.r.objectPath(c, ObjCommitMeta)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("Deleting object %s.commitmeta: %w", c, err)
	}
	path := p.r.objectPath(c, ObjCommit)
	var st unix.Stat_t
	err := unix.Lstat(path, &st)
	if err == nil {
		err = unix.Unlink(path)
	}
	if err != nil {
		// ostree's words: "unlinkat(XX/REST.commit): No such file or directory"
		h := c.String()
		msg := err.Error()
		return 0, &wordedError{fmt.Sprintf("Deleting object %s.commit: unlinkat(%s/%s.commit): %s%s", h, h[:2], h[2:], strings.ToUpper(msg[:1]), msg[1:]), err}
	}
	if p.tombstones {
		if err := p.r.writeTombstone(c); err != nil {
			return 0, err
		}
	}
	return st.Size, nil
}
