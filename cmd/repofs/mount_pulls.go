package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
)

// pullSpec is one --pull: a remote, and optionally one of its refs.
type pullSpec struct{ remote, ref string }

// backgroundPulls pulls every spec at once, then every interval and on
// SIGHUP, until ctx is done. Failures are logged, never fatal: the mount
// keeps serving what it has.
func backgroundPulls(ctx context.Context, r *repo.Repo, specs []pullSpec, interval time.Duration, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, s := range specs {
			o := pull.Options{Remote: s.remote}
			if s.ref != "" {
				o.Refs = []string{s.ref}
			}
			res, err := pull.Pull(ctx, r, o)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				log.Error("background pull failed; retrying at the next interval", "remote", s.remote, "ref", s.ref, "err", err)
				continue
			}
			for ref, c := range res.Refs {
				log.Info("pulled", "remote", s.remote, "ref", ref, "commit", c.String(),
					"content", res.ContentFetched, "bytes", res.BytesTransferred)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
			log.Info("SIGHUP: pulling now")
		}
	}
}
