package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/fusefs"
)

var mountCommand = &command{
	name:    "mount",
	summary: "Show the repository read-only through FUSE, live",
	usage:   "[--pull=REMOTE[:REF]]… [--interval=D] [--allow-other] [--no-xattrs] [--debug] MOUNTPOINT",
	help: `Mounts the repository read-only at MOUNTPOINT:

  MOUNTPOINT/refs/heads/<ref>            symlink to ../../commits/<sha>
  MOUNTPOINT/refs/remotes/<remote>/<ref> symlink to ../../../commits/<sha>
  MOUNTPOINT/refs/mirrors/<collection>/<ref>
                                         symlink to ../../../commits/<sha>
  MOUNTPOINT/commits/<sha>/              the tree of that commit

refs/ follows the repository live: a ref moved by any program (repofs,
ostree) shows its new commit within milliseconds. Runs in the foreground
until SIGINT or SIGTERM, then unmounts and exits 0. If the mount is busy it
says so and keeps serving; a second signal detaches it lazily. SIGUSR1 logs
how many FUSE requests of each kind it has served.

Options:
  --pull=REMOTE[:REF]   pull from REMOTE (only REF) in the background, at once
                        and then every --interval, and on SIGHUP (repeatable);
                        failures are logged and retried at the next interval
  --interval=D          time between background pulls (default 5m)
  --allow-other         let other users see the mount; the kernel then also
                        enforces the files' POSIX ACLs (unless --no-xattrs,
                        which hides them)
  --no-xattrs           hide extended attributes (getxattr fails with
                        EOPNOTSUPP)
  --debug               log every FUSE request to stderr

Examples:
  repofs --repo=repo mount /mnt/os &
  repofs --repo=repo mount --pull=origin:os/main --interval=1m /mnt/os
  ls /mnt/os/refs/heads; cat /mnt/os/refs/heads/os/main/etc/os-release`,
	setup: withFlags((*mountFlags).register, runMount),
}

type mountFlags struct {
	o        fusefs.MountOptions
	pulls    []string // --pull=REMOTE[:REF]
	interval time.Duration
}

func (f *mountFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.interval, "interval", 5*time.Minute, "")
	fs.StringArrayVar(&f.pulls, "pull", nil, "")
	fs.BoolVar(&f.o.AllowOther, "allow-other", false, "")
	fs.BoolVar(&f.o.Debug, "debug", false, "")
	fs.BoolVar(&f.o.NoXattrs, "no-xattrs", false, "")
	fs.BoolVar(&f.o.NoVerify, "no-verify", false, "")
	fs.BoolVar(&f.o.NonEmpty, "nonempty", false, "")
}

func runMount(e *env, f *mountFlags, args []string) error {
	if len(args) != 1 {
		return usagef("mount needs a MOUNTPOINT")
	}
	if f.interval <= 0 {
		return usagef("--interval must be positive")
	}
	var specs []pullSpec
	for _, p := range f.pulls {
		remote, ref, _ := strings.Cut(p, ":")
		if remote == "" {
			return usagef("--pull=%s: want REMOTE or REMOTE:REF", p)
		}
		specs = append(specs, pullSpec{remote, ref})
	}
	return serveMount(e, args[0], f.o, specs, f.interval)
}

// mountMemoryLimit is the mount's soft heap limit (unless GOMEMLIMIT says
// otherwise): room for the inflated files kept in memory (32 MiB), the
// decoded objects' caches and what reading archive files holds at once.
// Without it the heap grows to twice what is live between collections.
const mountMemoryLimit = 100 << 20

func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(mountMemoryLimit)
	}
}

// serveMount mounts the repository at mp, runs the background pulls and
// serves until the mount goes away or a signal unmounts it.
func serveMount(e *env, mp string, o fusefs.MountOptions, specs []pullSpec, interval time.Duration) error {
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if o.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	o.Logger = log
	limitMemory()
	// Catch the signals before mounting, so none is lost in between.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)

	m, err := fusefs.MountRepo(e.ctx, r, mp, o)
	if err != nil {
		return err
	}
	log.Info("mounted", "repo", r.Path(), "mountpoint", mp)
	done := make(chan struct{})
	go func() { m.Wait(); close(done) }()
	if len(specs) > 0 {
		pctx, cancel := context.WithCancel(context.WithoutCancel(e.ctx))
		pulled := make(chan struct{})
		go func() { defer close(pulled); backgroundPulls(pctx, r, specs, interval, log) }()
		defer func() { cancel(); <-pulled }()
	}
	return serveUntilSignal(m, mp, log, done, sigs, usr1)
}

// serveUntilSignal waits for the mount m to end (done) and answers
// signals: SIGINT and SIGTERM unmount, or detach lazily when the mount
// was already found busy; SIGUSR1 logs the request counts.
func serveUntilSignal(m *fusefs.Mount, mp string, log *slog.Logger, done <-chan struct{}, sigs, usr1 <-chan os.Signal) error {
	busy := false
	for {
		select {
		case <-done:
			log.Info("unmounted", "mountpoint", mp)
			return nil
		case <-usr1:
			logRequests(log, m.Requests())
		case sig := <-sigs:
			if busy {
				log.Warn("second signal: detaching lazily", "mountpoint", mp, "signal", sig.String())
				if err := m.Detach(); err != nil {
					return err
				}
				// The open files keep the connection; give them a moment,
				// then exit as asked (they then see ENOTCONN).
				select {
				case <-done:
				case <-time.After(2 * time.Second):
				}
				return nil
			}
			err := m.Unmount()
			if errors.Is(err, fusefs.ErrBusy) {
				busy = true
				log.Warn(fmt.Sprintf("%v; send the signal again to detach lazily", err))
				continue
			}
			if err != nil {
				return err
			}
			<-done
			log.Info("unmounted", "mountpoint", mp)
			return nil
		}
	}
}

// logRequests logs the FUSE request counts on one line, in a fixed order.
func logRequests(log *slog.Logger, counts fusefs.RequestCounts) {
	names := slices.Sorted(maps.Keys(counts))
	var total uint64
	attrs := make([]any, 0, 2*len(names)+2)
	for _, name := range names {
		attrs = append(attrs, name, counts[name])
		total += counts[name]
	}
	log.Info("fuse requests", append([]any{"total", total}, attrs...)...)
}
