package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync"
	"syscall"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/fusefs"
)

var mountCommand = &command{
	name:    "mount",
	summary: "Show the repository read-only through FUSE, live",
	usage:   "[--pull=REMOTE[:REF]]… [--interval=D] [--keep=N] [--keep-younger-than=D] [--allow-other] [--no-xattrs] [--no-verify] [--nonempty] [--log-format=text|json] [--debug] MOUNTPOINT",
	help: `Mounts the repository read-only at MOUNTPOINT:

  MOUNTPOINT/refs/heads/<ref>            symlink to ../../commits/<sha>
  MOUNTPOINT/refs/remotes/<remote>/<ref> symlink to ../../../commits/<sha>
  MOUNTPOINT/refs/mirrors/<collection>/<ref>
                                         symlink to ../../../commits/<sha>
  MOUNTPOINT/commits/<sha>/              the tree of that commit

refs/ follows the repository live: a ref moved by any program (repofs,
ostree) shows its new commit within milliseconds. Runs in the foreground
until SIGINT or SIGTERM, then unmounts and exits 0. If the mount is busy it
says so and keeps serving; a second signal detaches it lazily. SIGHUP never
ends it: with --pull it pulls now, without it is logged and ignored. A
closed stdout or stderr never ends it either (its log lines are dropped).
SIGUSR1 logs how many FUSE requests of each kind it has served.

Under a systemd unit of Type=notify it reports READY=1 once the mount
answers, the last background pull in STATUS=, and STOPPING=1. mount(8) and
fstab run it as 'repofs REPO MOUNTPOINT -o OPTIONS' (type fuse.repofs);
see the README.

Options:
  --pull=REMOTE[:REF]   pull from REMOTE (only REF) in the background, at once
                        and then every --interval, and on SIGHUP (repeatable);
                        the remote and the ref are checked before mounting;
                        a failing pull is retried after 1, 2, 4… intervals
                        (at most 64, at most an hour)
  --interval=D          time between background pulls (default 5m)
  --keep=N              after a background pull moved a ref, prune its
                        history to its last N commits (repo/.lock held
                        exclusively meanwhile; other refs keep theirs, and
                        commits no ref reaches go, as with 'repofs prune
                        --only-branch=REMOTE:REF --depth=N-1')
  --keep-younger-than=D keep too (or, without --keep, only) the commits
                        younger than D (36h, 30d) at the top of the history
  --allow-other         let other users see the mount; the kernel then also
                        enforces the files' POSIX ACLs (unless --no-xattrs,
                        which hides them)
  --no-xattrs           hide extended attributes (getxattr fails with
                        EOPNOTSUPP)
  --no-verify           serve the files of a bare repository without
                        checking their checksums as they are read
  --nonempty            mount over a directory that is not empty
  --log-format=F        log lines as text (default) or json
  --debug               log every FUSE request to stderr, and pulls that
                        changed nothing

Examples:
  repofs --repo=repo mount /mnt/os &
  repofs --repo=repo mount --pull=origin:os/main --interval=1m /mnt/os
  repofs --repo=repo mount --pull=origin:os/main --keep=3 /mnt/os
  ls /mnt/os/refs/heads; cat /mnt/os/refs/heads/os/main/etc/os-release`,
	setup: withFlags((*mountFlags).register, runMount),
}

type mountFlags struct {
	o         fusefs.MountOptions
	pulls     []string // --pull=REMOTE[:REF]
	interval  time.Duration
	logFormat string
	noVerify  bool
	nonEmpty  bool
	keep      int    // --keep
	keepAge   string // --keep-younger-than
}

func (f *mountFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.interval, "interval", 5*time.Minute, "")
	fs.StringArrayVar(&f.pulls, "pull", nil, "")
	fs.IntVar(&f.keep, "keep", 0, "")
	fs.StringVar(&f.keepAge, "keep-younger-than", "", "")
	fs.BoolVar(&f.o.AllowOther, "allow-other", false, "")
	fs.BoolVar(&f.o.Debug, "debug", false, "")
	fs.BoolVar(&f.o.NoXattrs, "no-xattrs", false, "")
	fs.BoolVar(&f.noVerify, "no-verify", false, "")
	fs.BoolVar(&f.nonEmpty, "nonempty", false, "")
	fs.StringVar(&f.logFormat, "log-format", "text", "")
}

// mountConfig is everything a mount runs with, from the options of
// 'repofs mount' or from mount(8)'s -o.
type mountConfig struct {
	o         fusefs.MountOptions
	specs     []pullSpec
	interval  time.Duration
	logFormat string
	retain    retention // of the pulled refs' histories
	// ready, when set, is called once the mount answers (the daemon of
	// mount(8) then lets its parent exit).
	ready func()
}

func runMount(e *env, f *mountFlags, args []string) error {
	if len(args) != 1 {
		return usagef("mount needs a MOUNTPOINT")
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	return serveMount(e, args[0], cfg)
}

// config checks the options and turns them into a mountConfig.
func (f *mountFlags) config() (*mountConfig, error) {
	if f.interval <= 0 {
		return nil, usagef("--interval must be positive")
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return nil, usagef("--log-format=%s: want text or json", f.logFormat)
	}
	specs, err := parsePullSpecs(f.pulls)
	if err != nil {
		return nil, err
	}
	cfg := &mountConfig{o: f.o, specs: specs, interval: f.interval, logFormat: f.logFormat}
	if cfg.retain, err = f.retention(len(specs) > 0); err != nil {
		return nil, err
	}
	cfg.o.NoVerify, cfg.o.NonEmpty = f.noVerify, f.nonEmpty
	return cfg, nil
}

// retention checks --keep and --keep-younger-than, which need --pull.
func (f *mountFlags) retention(pulls bool) (retention, error) {
	var rt retention
	if f.keep < 0 {
		return rt, usagef("--keep=%d: want a number of commits, 1 or more", f.keep)
	}
	rt.keep = f.keep
	if f.keepAge != "" {
		d, err := parseAge(f.keepAge)
		if err != nil {
			return rt, usagef("--keep-younger-than: %v", err)
		}
		rt.youngerThan = d
	}
	if rt.enabled() && !pulls {
		return rt, usagef("--keep and --keep-younger-than apply to the refs of --pull; prune other refs with 'repofs prune'")
	}
	return rt, nil
}

// mountMemoryLimit is the mount's soft heap limit (unless GOMEMLIMIT says
// otherwise): room for the inflated files kept in memory (32 MiB), the
// decoded objects' caches and what reading archive files holds at once.
// Without it the heap grows to twice what is live between collections,
// and a service's resident size follows the heap's peak, not what is
// live: a mount that has served a mirror's refs/ keeps some 40 MiB live,
// which a higher limit would let grow past 100 MiB resident.
const mountMemoryLimit = 64 << 20

// limitMemory sets the soft heap limit. What the mount holds for the refs
// the kernel knows (after a walk of a mirror's hundred thousand refs,
// some hundred megabytes, for as long as the kernel keeps them) is live,
// not slack: under a limit below the live heap the collector runs back to
// back, and every allocation pays for it. So after each collection the
// limit is raised to half again the live heap when that is more: the heap
// still grows by less than between collections without a limit, and the
// collector runs in proportion to the allocation, not continuously.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(mountMemoryLimit)
		followOnce.Do(followLiveHeap)
	}
}

var followOnce sync.Once

// followLiveHeap raises the soft heap limit after every collection (a
// finalizer, run after the collection that freed its object, arms the
// next): an idle mount, which collects nothing, costs nothing.
func followLiveHeap() {
	runtime.SetFinalizer(new([32]byte), func(any) {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live := int64(sample[0].Value.Uint64())
			debug.SetMemoryLimit(max(mountMemoryLimit, live+live/2))
		}
		followLiveHeap()
	})
}

// newLogger logs to w, one line per event, as text or JSON.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	ho := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// mountSignals are the signals a mount answers, caught before it mounts
// so that none is lost in between.
type mountSignals struct {
	stop, hup, usr1, pipe chan os.Signal
}

func catchMountSignals() *mountSignals {
	s := &mountSignals{
		stop: make(chan os.Signal, 4), hup: make(chan os.Signal, 1),
		usr1: make(chan os.Signal, 1), pipe: make(chan os.Signal, 1),
	}
	signal.Notify(s.stop, os.Interrupt, syscall.SIGTERM)
	signal.Notify(s.hup, syscall.SIGHUP)
	signal.Notify(s.usr1, syscall.SIGUSR1)
	// Caught, never read: a write to a closed stdout or stderr then fails
	// with EPIPE (the log line is lost) instead of killing the process.
	signal.Notify(s.pipe, syscall.SIGPIPE)
	return s
}

func (s *mountSignals) release() {
	signal.Stop(s.stop)
	signal.Stop(s.hup)
	signal.Stop(s.usr1)
	// SIGPIPE stays caught: the deferred log lines may still meet a
	// closed pipe.
}

// serveMount mounts the repository at mp, runs the background pulls and
// serves until the mount goes away or a signal unmounts it.
func serveMount(e *env, mp string, cfg *mountConfig) error {
	sigs := catchMountSignals()
	defer sigs.release()
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if cfg.o.Debug {
		level = slog.LevelDebug
	}
	log := newLogger(e.stderr, cfg.logFormat, level)
	cfg.o.Logger = log
	if err := checkPulls(e.ctx, r, cfg.specs, log); err != nil {
		return err
	}
	limitMemory()
	sd, err := newNotifier()
	if err != nil {
		log.Warn("systemd notification disabled", "err", err)
	}
	defer sd.close()

	m, err := fusefs.MountRepo(e.ctx, r, mp, cfg.o)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { m.Wait(); close(done) }()
	// Ready means answering: the root's attributes come from this process.
	if _, err := os.Stat(mp); err != nil {
		m.Unmount()
		return fmt.Errorf("mount %s: the new mount does not answer: %w", mp, err)
	}
	log.Info("mounted", "repo", r.Path(), "mountpoint", mp)
	if err := sd.notify("READY=1\nSTATUS=serving " + r.Path() + " at " + mp); err != nil {
		log.Warn("systemd notification failed", "err", err)
	}
	if cfg.ready != nil {
		cfg.ready()
	}
	hup := sigs.hup
	if len(cfg.specs) > 0 {
		pctx, cancel := context.WithCancel(context.WithoutCancel(e.ctx))
		pulled := make(chan struct{})
		status := func(format string, args ...any) { sd.status(format, args...) }
		go func() {
			defer close(pulled)
			backgroundPulls(pctx, r, cfg.specs, cfg.interval, cfg.retain, log, sigs.hup, status)
		}()
		defer func() { cancel(); <-pulled }()
		hup = nil // the pulls answer SIGHUP
	}
	return serveUntilSignal(m, mp, log, done, sigs, hup, sd)
}

// serveUntilSignal waits for the mount m to end (done) and answers
// signals: SIGINT and SIGTERM unmount, or detach lazily when the mount
// was already found busy; SIGUSR1 logs the request counts; SIGHUP (when
// hup is not nil: no background pulls) is logged and ignored.
func serveUntilSignal(m *fusefs.Mount, mp string, log *slog.Logger, done <-chan struct{}, sigs *mountSignals, hup <-chan os.Signal, sd *notifier) error {
	busy := false
	for {
		select {
		case <-done:
			sd.notify("STOPPING=1")
			log.Info("unmounted", "mountpoint", mp)
			return nil
		case <-sigs.usr1:
			logRequests(log, m.Requests())
		case <-hup:
			log.Info("SIGHUP ignored: there are no background pulls (--pull) to run", "mountpoint", mp)
		case sig := <-sigs.stop:
			sd.notify("STOPPING=1")
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
				sd.status("busy: send the signal again to detach lazily")
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

// logRequests logs the FUSE request counts on one line, in a fixed order,
// with the number of goroutines (a leak shows in a long-running mount).
func logRequests(log *slog.Logger, counts fusefs.RequestCounts) {
	names := slices.Sorted(maps.Keys(counts))
	var total uint64
	attrs := make([]any, 0, 2*len(names)+2)
	for _, name := range names {
		attrs = append(attrs, name, counts[name])
		total += counts[name]
	}
	log.Info("fuse requests", append([]any{"total", total, "goroutines", runtime.NumGoroutine()}, attrs...)...)
}
