package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/repofs/repofs/repo"
)

// retention is how much of each pulled ref's history a mount with
// background pulls keeps (--keep, --keep-younger-than): a commit stays
// when it is one of the ref's last keep commits, or when it and every
// commit above it are younger than youngerThan; the ref's own commit
// always stays. Zero values set no limit; both zero, retention is off.
type retention struct {
	keep        int
	youngerThan time.Duration
}

func (rt retention) enabled() bool { return rt.keep > 0 || rt.youngerThan > 0 }

// parseAge reads a --keep-younger-than duration: Go's syntax ("36h",
// "90m") or whole days ("30d").
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err == nil && n > 0 && n < 1<<20 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive duration such as 36h or 30d, not %q", s)
	}
	return d, nil
}

// depth is how many parents of commit c the retention keeps.
func (rt retention) depth(r *repo.Repo, c repo.Checksum, now time.Time) (int, error) {
	depth := max(rt.keep-1, 0)
	if rt.youngerThan <= 0 {
		return depth, nil
	}
	cutoff := now.Add(-rt.youngerThan).Unix()
	for n := 0; ; n++ {
		commit, err := r.ReadCommit(c)
		if errors.Is(err, repo.ErrNotFound) {
			return max(depth, n-1), nil // a shallow history ends here
		}
		if err != nil {
			return 0, err
		}
		if n > 0 && commit.Timestamp.Unix() < cutoff {
			return max(depth, n-1), nil
		}
		if !commit.HasParent {
			return max(depth, n), nil
		}
		c = commit.Parent
	}
}

// options are the prune options that apply the retention to refs
// (refspecs, REMOTE:REF): the same as 'repofs prune --only-branch=REF
// --retain-branch-depth=REF=D' for each, which a cron job or systemd timer
// can run just as well. As with ostree's --only-branch, every other ref
// keeps its whole history, and commits that no ref reaches go; unlike it,
// so do the refs under refs/mirrors, which ostree's --only-branch would
// leave unprotected.
func (rt retention) options(r *repo.Repo, refs []string, now time.Time) (repo.PruneOptions, error) {
	o := repo.PruneOptions{Depth: 0, OnlyBranches: refs, RetainBranchDepth: map[string]int{}, KeepMirrorRefs: true}
	for _, ref := range refs {
		c, err := r.ResolveRev(ref)
		if err != nil {
			return o, err
		}
		d, err := rt.depth(r, c, now)
		if err != nil {
			return o, fmt.Errorf("retention of %s: %w", ref, err)
		}
		if d > 0 {
			// 0 must stay out: ostree reads a depth of 0 as "none given",
			// and Depth 0 above covers it.
			o.RetainBranchDepth[ref] = d
		}
	}
	return o, nil
}

// apply prunes refs' histories to the retention. The prune holds
// repo/.lock exclusively from before it computes what is reachable until
// it is done; a lock it cannot get within core.lock-timeout-secs fails
// with repo.ErrLocked.
func (rt retention) apply(ctx context.Context, r *repo.Repo, refs []string, now time.Time) (*repo.PruneResult, error) {
	o, err := rt.options(r, refs, now)
	if err != nil {
		return nil, err
	}
	return r.Prune(ctx, o)
}
