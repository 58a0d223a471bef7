package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
)

// pullSpec is one --pull: a remote, and optionally one of its refs.
type pullSpec struct{ remote, ref string }

func (s pullSpec) String() string {
	if s.ref == "" {
		return s.remote
	}
	return s.remote + ":" + s.ref
}

// parsePullSpecs reads the --pull values, REMOTE or REMOTE:REF.
func parsePullSpecs(values []string) ([]pullSpec, error) {
	var specs []pullSpec
	for _, p := range values {
		remote, ref, _ := strings.Cut(p, ":")
		if remote == "" {
			return nil, usagef("--pull=%s: want REMOTE or REMOTE:REF", p)
		}
		if ref != "" && !repo.IsChecksum(ref) {
			if err := repo.ValidateRef(ref); err != nil {
				return nil, usagef("--pull=%s: %v", p, err)
			}
		}
		specs = append(specs, pullSpec{remote, ref})
	}
	return specs, nil
}

// checkTimeout bounds the look at a remote's summary before mounting.
const checkTimeout = 20 * time.Second

// checkPulls makes sure, before anything is mounted, that every --pull
// names a configured remote and, when the remote's summary can be read
// now, a ref it publishes: a typo is a usage error, not an ERROR logged
// every interval for ever. A remote that cannot be reached now (the
// network at boot) is no mistake; the background pulls retry it.
func checkPulls(ctx context.Context, r *repo.Repo, specs []pullSpec, log *slog.Logger) error {
	summaries := map[string]*repo.Summary{}
	for _, s := range specs {
		if _, err := pull.ReadRemote(r, s.remote); errors.Is(err, pull.ErrNoRemote) {
			return usagef("--pull=%s: %v; see 'repofs remote list'", s, err)
		} else if err != nil {
			return fmt.Errorf("--pull=%s: %w", s, err)
		}
		if s.ref == "" || repo.IsChecksum(s.ref) {
			continue
		}
		sum, seen := summaries[s.remote]
		if !seen {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			var err error
			sum, err = pull.FetchSummary(cctx, r, s.remote)
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil && !errors.Is(err, pull.ErrMissing) {
				log.Warn("cannot check --pull now; the background pull will retry", "pull", s.String(), "err", err)
			}
			summaries[s.remote] = sum // nil when unknown: no summary, or unreachable
		}
		if sum != nil && !slices.ContainsFunc(sum.Refs, func(sr repo.SummaryRef) bool { return sr.Name == s.ref }) {
			return usagef("--pull=%s: remote %s publishes no ref %s; see 'repofs remote summary %s'", s, s.remote, s.ref, s.remote)
		}
	}
	return nil
}

// pullState is one --pull's schedule: when it runs next and how often it
// has failed in a row.
type pullState struct {
	spec     pullSpec
	next     time.Time
	failures int
	lastErr  string
	commits  map[string]repo.Checksum // what each ref was at the last pull
	unpruned map[string]bool          // refs (REMOTE:REF) moved, not yet pruned
}

// backgroundPuller runs the --pull specs on their schedules.
type backgroundPuller struct {
	r        *repo.Repo
	states   []*pullState
	interval time.Duration
	retain   retention
	log      *slog.Logger
	status   func(format string, args ...any) // STATUS= for systemd
}

// maxBackoff is the longest wait between the retries of a failing remote:
// 64 intervals, at most an hour (but never less than the interval).
func maxBackoff(interval time.Duration) time.Duration {
	return max(interval, min(64*interval, time.Hour))
}

// backoff is the wait after the n-th failure in a row: the interval,
// doubled for each failure after the first, capped by maxBackoff.
func backoff(interval time.Duration, n int) time.Duration {
	d, limit := interval, maxBackoff(interval)
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// backgroundPulls pulls every spec at once, then every interval and when
// hup fires, until ctx is done. Failures are logged, never fatal: the
// mount keeps serving what it has, and a failing remote is retried less
// and less often (backoff) until it works again.
func backgroundPulls(ctx context.Context, r *repo.Repo, specs []pullSpec, interval time.Duration, retain retention, log *slog.Logger, hup <-chan os.Signal, status func(string, ...any)) {
	b := &backgroundPuller{r: r, interval: interval, retain: retain, log: log, status: status}
	now := time.Now()
	for _, s := range specs {
		b.states = append(b.states, &pullState{spec: s, next: now, commits: map[string]repo.Checksum{}, unpruned: map[string]bool{}})
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		var next time.Time
		for i, s := range b.states {
			if !time.Now().Before(s.next) {
				b.pull(ctx, s)
				if ctx.Err() != nil {
					return
				}
			}
			if i == 0 || s.next.Before(next) {
				next = s.next
			}
		}
		t.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
			log.Info("SIGHUP: pulling now")
			for _, s := range b.states {
				s.next = time.Now()
			}
		}
	}
}

// pull runs one spec's pull and schedules its next one.
func (b *backgroundPuller) pull(ctx context.Context, s *pullState) {
	o := pull.Options{Remote: s.spec.remote, Notice: func(err error) {
		b.log.Warn("background pull recovered", "pull", s.spec.String(), "err", err)
	}}
	if s.spec.ref != "" {
		o.Refs = []string{s.spec.ref}
	}
	res, err := pull.Pull(ctx, b.r, o)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		b.failed(s, err)
		return
	}
	if s.failures > 0 {
		b.log.Info("background pull works again", "pull", s.spec.String(), "failures", s.failures)
	}
	s.failures, s.lastErr, s.next = 0, "", time.Now().Add(b.interval)
	fetched := res.MetadataFetched+res.ContentFetched > 0
	for ref, c := range res.Refs {
		level := slog.LevelInfo
		if !fetched && s.commits[ref] == c {
			level = slog.LevelDebug // nothing changed: not worth a line every interval
		}
		if s.commits[ref] != c && !repo.IsChecksum(ref) {
			s.unpruned[s.spec.remote+":"+ref] = true
		}
		s.commits[ref] = c
		b.log.Log(ctx, level, "pulled", "remote", s.spec.remote, "ref", ref, "commit", c.String(),
			"metadata", res.MetadataFetched, "content", res.ContentFetched, "bytes", res.BytesTransferred)
	}
	b.prune(ctx, s)
	b.status("last pull %s at %s: ok", s.spec, time.Now().Format(time.TimeOnly))
}

// failed logs a failed pull and backs off: the first failure and a new
// kind of failure are warnings, the same failure again is debug.
func (b *backgroundPuller) failed(s *pullState, err error) {
	s.failures++
	wait := backoff(b.interval, s.failures)
	s.next = time.Now().Add(wait)
	level := slog.LevelWarn
	if s.failures > 1 && err.Error() == s.lastErr {
		level = slog.LevelDebug
	}
	s.lastErr = err.Error()
	b.log.Log(context.Background(), level, "background pull failed", "pull", s.spec.String(),
		"failures", s.failures, "retry_in", wait.String(), "err", err)
	b.status("last pull %s at %s failed (%d in a row, retry in %s): %v", s.spec, time.Now().Format(time.TimeOnly), s.failures, wait, err)
}

// prune applies the retention to the refs of s that pulls moved (the
// first pull counts as a move); a prune that fails (another holds the
// lock too long) is logged and tried again after the next pull.
func (b *backgroundPuller) prune(ctx context.Context, s *pullState) {
	if !b.retain.enabled() || len(s.unpruned) == 0 {
		return
	}
	refs := slices.Sorted(maps.Keys(s.unpruned))
	res, err := b.retain.apply(ctx, b.r, refs, time.Now())
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		b.log.Warn("retention prune failed; trying again after the next pull", "refs", strings.Join(refs, ","), "err", err)
		return
	}
	clear(s.unpruned)
	level := slog.LevelInfo
	if res.Pruned == 0 {
		level = slog.LevelDebug
	}
	b.log.Log(ctx, level, "pruned", "refs", strings.Join(refs, ","), "keep", b.retain.keep,
		"keep_younger_than", b.retain.youngerThan.String(), "objects", res.Pruned, "freed", res.Freed)
}
