package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/fusefs"
)

func init() {
	register(&command{
		name:    "mount",
		summary: "Show the repository read-only through FUSE, live",
		usage:   "[--allow-other] [--debug] MOUNTPOINT",
		help: `Mounts the repository read-only at MOUNTPOINT:

  MOUNTPOINT/refs/heads/<ref>            symlink to ../../commits/<sha>
  MOUNTPOINT/refs/remotes/<remote>/<ref> symlink to ../../../commits/<sha>
  MOUNTPOINT/commits/<sha>/              the tree of that commit

refs/ follows the repository live: a ref moved by any program (repofs,
ostree) shows its new commit within milliseconds. Runs in the foreground
until SIGINT or SIGTERM, then unmounts and exits 0. If the mount is busy it
says so and keeps serving; a second signal detaches it lazily.

Options:
  --allow-other   let other users see the mount
  --debug         log every FUSE request to stderr

Examples:
  repofs --repo=repo mount /mnt/os &
  ls /mnt/os/refs/heads; cat /mnt/os/refs/heads/os/main/etc/os-release`,
		setup: func(fs *flag.FlagSet) runFunc {
			var o fusefs.MountOptions
			fs.BoolVar(&o.AllowOther, "allow-other", false, "")
			fs.BoolVar(&o.Debug, "debug", false, "")
			return func(e *env, args []string) error {
				if len(args) != 1 {
					return usagef("mount needs a MOUNTPOINT")
				}
				return runMount(e, args[0], o)
			}
		},
	})
}

func runMount(e *env, mp string, o fusefs.MountOptions) error {
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
	// Catch the signals before mounting, so none is lost in between.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	m, err := fusefs.MountRepo(e.ctx, r, mp, o)
	if err != nil {
		return err
	}
	log.Info("mounted", "repo", r.Path(), "mountpoint", mp)
	done := make(chan struct{})
	go func() { m.Wait(); close(done) }()
	busy := false
	for {
		select {
		case <-done:
			log.Info("unmounted", "mountpoint", mp)
			return nil
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
