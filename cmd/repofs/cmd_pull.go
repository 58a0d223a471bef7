package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
)

var pullCommand = &command{
	name:    "pull",
	summary: "Fetch refs and their objects from a remote over HTTP",
	usage:   "[--depth=N] [--mirror] [--commit-metadata-only] [--disable-static-deltas | --require-static-deltas] [--dry-run] [--network-retries=N] [--low-speed-limit-bytes=N] [--low-speed-time-secs=N] [--parallel=N] [--url=URL] [-L PATH]… [-q] REMOTE [REF|CHECKSUM…]",
	help: `Fetches the named refs (default: the remote's branches, else every ref of
its summary) and every object they need, verifying each before it is
written, in one transaction; refs/remotes/REMOTE/REF moves only when all is
in place. Many pulls may run into one repository at once. An interrupted
pull leaves its partial downloads in a locked tmp/fetcher-* directory; the
next pull resumes them with HTTP Range requests.

When the remote publishes static deltas (its summary's ostree.static-deltas,
or delta-indexes/), a ref is pulled through the delta from the newest
complete local commit the remote has one from, or through the scratch
delta when the ref is absent locally; a delta (or part) that fails
verification is dropped and its objects are fetched one by one. Every
object a delta produces is verified before it is written, in every
repository mode (archive repositories too, unlike ostree).

The remote's url serves its config, summary, refs and signatures; its
contenturl, when set, serves the objects and static deltas. Either may be
mirrorlist=URL, a list of base URLs (one a line, # comments): each request
goes to the first mirror that works, fails over to the next on any error
(a partial download continues there), and a mirror that keeps failing is
skipped for the rest of the pull.

Options:
  --depth=N               also fetch N parents (-1: all history)
  --mirror                write refs/heads/REF instead of refs/remotes/REMOTE/REF
  --commit-metadata-only  fetch commits only (they stay marked partial)
  --disable-static-deltas fetch objects only, never deltas
  --require-static-deltas fail unless a static delta can be used
  --dry-run               print what the deltas to use weigh, fetch nothing more
  --network-retries=N     attempts per request after the first (default 5)
  --low-speed-limit-bytes=N
  --low-speed-time-secs=N fail a transfer slower than N bytes a second over
                          that many seconds, as ostree does (defaults: the
                          remote's keys of these names, else 1000 and 30);
                          one that received nothing is retried
  --parallel=N            downloads in flight (default 16)
  --url=URL               pull from URL instead of the remote's url (and
                          contenturl); mirrorlist=URL is taken too
  -L, --localcache-repo=PATH
                          take objects from the repository PATH when it has
                          them (copied or hardlinked, and verified) before
                          fetching them; may be repeated
  -q, --quiet             no progress line

Examples:
  repofs --repo=repo pull origin os/main
  repofs --repo=repo pull --depth=-1 origin`,
	setup: withFlags((*pullFlags).register, runPull),
}

type pullFlags struct {
	o            pull.Options
	quiet        bool
	lowSpeedTime uint32 // --low-speed-time-secs
}

func (f *pullFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.o.Depth, "depth", 0, "")
	fs.BoolVar(&f.o.Mirror, "mirror", false, "")
	fs.BoolVar(&f.o.CommitMetadataOnly, "commit-metadata-only", false, "")
	fs.IntVar(&f.o.Retries, "network-retries", 5, "")
	fs.IntVar(&f.o.Parallel, "parallel", 16, "")
	fs.Int64Var(&f.o.LowSpeed.Bytes, "low-speed-limit-bytes", 0, "")
	fs.Uint32Var(&f.lowSpeedTime, "low-speed-time-secs", 0, "")
	fs.BoolVar(&f.o.DisableStaticDeltas, "disable-static-deltas", false, "")
	fs.BoolVar(&f.o.RequireStaticDeltas, "require-static-deltas", false, "")
	fs.BoolVar(&f.o.DryRun, "dry-run", false, "")
	fs.StringVar(&f.o.URL, "url", "", "")
	fs.StringArrayVarP(&f.o.LocalCache, "localcache-repo", "L", nil, "")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "")
}

func runPull(e *env, f *pullFlags, args []string) error {
	if len(args) == 0 {
		return usagef("pull needs a REMOTE")
	}
	o := f.o
	o.LowSpeed.Time = time.Duration(f.lowSpeedTime) * time.Second
	if o.Retries <= 0 {
		o.Retries = -1 // no retries; Options reads 0 as "default"
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	o.Remote, o.Refs = args[0], args[1:]
	if o.DisableStaticDeltas && o.RequireStaticDeltas {
		return usagef("--disable-static-deltas and --require-static-deltas exclude each other")
	}
	o.Notice = func(err error) { fmt.Fprintf(e.stderr, "warning: %v\n", err) }
	o.DeltaFallback = func(err error) {
		fmt.Fprintf(e.stderr, "warning: static delta not used, fetching objects instead: %v\n", err)
	}
	tty := !f.quiet && isTerminal(e.stderr)
	var last pull.Progress // what an interrupted pull leaves for the next
	o.Progress = func(p pull.Progress) {
		last = p
		if tty && !p.Done {
			fmt.Fprintf(e.stderr, "\r\x1b[K%s", progressLine(p))
		}
	}
	res, err := pull.Pull(e.ctx, r, o)
	if tty {
		fmt.Fprint(e.stderr, "\r\x1b[K")
	}
	if errors.Is(err, context.Canceled) && e.ctx.Err() != nil {
		return &exitCodeError{exitInterrupted, fmt.Errorf("interrupted; run the same pull again to resume (%s kept)", repo.FormatSize(uint64(last.BytesTransferred)))}
	}
	if err != nil {
		return err
	}
	if o.DryRun {
		printDryRun(e, res)
		return nil
	}
	if !f.quiet {
		fmt.Fprintln(e.stdout, statusLine(res.Progress))
	}
	return nil
}

// printDryRun says, per ref, which delta a pull would use and what it
// would fetch, from the superblocks.
func printDryRun(e *env, res *pull.Result) {
	used := map[string]bool{}
	for _, d := range res.Deltas {
		used[d.Ref] = true
		fmt.Fprintf(e.stdout, "%s: delta %s: %d/%d parts, %d/%d fallback objects; %s to fetch, %s uncompressed\n",
			d.Ref, d.Name, d.PartsNeeded, d.Parts, d.FallbacksNeeded, d.Fallbacks, repo.FormatSize(uint64(d.Size)), repo.FormatSize(uint64(d.USize)))
	}
	for _, name := range slices.Sorted(maps.Keys(res.Refs)) {
		if !used[name] {
			fmt.Fprintf(e.stdout, "%s: %s: no static delta (up to date, or objects would be fetched)\n", name, res.Refs[name])
		}
	}
}
