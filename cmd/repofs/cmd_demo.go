package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/fusefs"
	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
)

const demoRef = "demo/main"

var demoCommand = &command{
	name:    "demo",
	summary: "Run a self-contained live demo: serve, pull, mount, commit",
	usage:   "[--interval=D] [DIR]",
	help: `Builds everything in DIR (default: a new directory under the system temp
dir, removed at the end):

  DIR/source   an archive repository with a generated tree of ~300 files,
               served over HTTP on 127.0.0.1 (an ephemeral port)
  DIR/client   a bare-user repository with that server as remote "origin"
  DIR/mnt      the client, mounted read-only with FUSE

Every --interval it commits a new revision to the source and pulls it into
the client while the mount is live: watch refs/remotes/origin/demo/main
move. SIGINT (Ctrl-C) unmounts, stops the server and exits 0.

Options:
  --interval=D   time between revisions (default 5s)

Example:
  repofs demo
  # in another terminal, with the paths it prints:
  ls -l /tmp/repofs-demo-*/mnt/refs/remotes/origin/demo/
  cat /tmp/repofs-demo-*/mnt/refs/remotes/origin/demo/main/docs/README.txt`,
	setup: withFlags((*demoFlags).register, runDemo),
}

type demoFlags struct{ interval time.Duration }

func (f *demoFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.interval, "interval", 5*time.Second, "")
}

func runDemo(e *env, f *demoFlags, args []string) (err error) {
	if len(args) > 1 {
		return usagef("demo takes at most one DIR")
	}
	if f.interval <= 0 {
		return usagef("--interval must be positive")
	}
	dir, temp := "", len(args) == 0
	if !temp {
		dir = args[0]
	}
	if dir, err = demoDir(dir); err != nil {
		return err
	}
	if temp {
		defer func() {
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = fmt.Errorf("demo: clean up %s: %w", dir, rerr)
			}
		}()
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.WithoutCancel(e.ctx))
	defer cancel()

	d := &demo{e: e, log: slog.New(slog.NewTextHandler(e.stderr, nil)), dir: dir, tree: filepath.Join(dir, "tree")}
	stopServing, err := d.start(ctx)
	if err != nil {
		return err
	}
	defer stopServing()
	return d.run(ctx, cancel, f.interval, sigs)
}

// demoDir makes the demo's directory: a new one under the system temp
// dir when dir is "", else dir, which must be new or empty.
func demoDir(dir string) (string, error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "repofs-demo-")
		if err != nil {
			return "", fmt.Errorf("demo: %w", err)
		}
		return tmp, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		return "", fmt.Errorf("demo: %s is not empty; give a new or empty directory", dir)
	}
	return dir, nil
}

// demo is the state of a running demo.
type demo struct {
	e        *env
	log      *slog.Logger
	dir      string
	tree     string
	source   *repo.Repo
	client   *repo.Repo
	url      string
	revision int
}

// start makes the source repository with its first revision, serves it
// over HTTP, and pulls it into a new client repository; stop stops the
// server.
func (d *demo) start(ctx context.Context) (stop func(), err error) {
	if d.source, err = repo.Init(filepath.Join(d.dir, "source"), repo.ModeArchive); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := d.commitRevision(ctx); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: listen on 127.0.0.1: %w", err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(d.source.Path())), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	stop = func() { srv.Close() }
	d.url = "http://" + ln.Addr().String()
	d.log.Info("serving the source repository", "url", d.url, "repo", d.source.Path())

	if d.client, err = repo.Init(filepath.Join(d.dir, "client"), repo.ModeBareUser); err != nil {
		stop()
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := pull.AddRemote(ctx, d.client, "origin", d.url, pull.AddOptions{NoGPGVerify: true}); err != nil {
		stop()
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := d.pull(ctx); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// run mounts the client, then commits and pulls a revision every
// interval until a signal (cancel stops what runs then) or an unmount
// from outside ends it.
func (d *demo) run(ctx context.Context, cancel context.CancelFunc, interval time.Duration, sigs <-chan os.Signal) error {
	e, log := d.e, d.log
	mp := filepath.Join(d.dir, "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	m, err := fusefs.MountRepo(ctx, d.client, mp, fusefs.MountOptions{Options: fusefs.Options{Logger: log}})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	unmounted := make(chan struct{})
	go func() { m.Wait(); close(unmounted) }()
	d.printIntro(mp, interval)

	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := d.commitRevision(ctx); err != nil {
				log.Error("commit a new revision", "err", err)
				continue
			}
			if err := d.pull(ctx); err != nil {
				log.Error("pull", "err", err)
			}
		case <-unmounted:
			return errors.New("demo: the mount went away (unmounted from outside)")
		case sig := <-sigs:
			log.Info("stopping", "signal", sig.String())
			cancel()
			if err := m.Unmount(); err != nil {
				log.Warn("unmount failed, detaching lazily", "err", err)
				if err := m.Detach(); err != nil {
					return fmt.Errorf("demo: %w", err)
				}
			}
			select {
			case <-unmounted:
			case <-time.After(5 * time.Second):
			}
			fmt.Fprintf(e.stdout, "repofs demo stopped after %d revisions; unmounted %s\n", d.revision, mp)
			return nil
		}
	}
}

// printIntro tells where everything is and what to try.
func (d *demo) printIntro(mp string, interval time.Duration) {
	e, dir := d.e, d.dir
	ref := filepath.Join(mp, "refs", "remotes", "origin", demoRef)
	fmt.Fprintf(e.stdout, `repofs demo is running in %s
  source repository %s, served at %s
  client repository %s (remote "origin")
  mounted at        %s

Try, in another terminal:
  ls -l %s
  cat %s/docs/README.txt
  ls %s/commits/

A new revision is committed and pulled every %s; watch the ref move.
Press Ctrl-C to stop.
`, dir, d.source.Path(), d.url, d.client.Path(), mp, filepath.Dir(ref), ref, mp, interval)
}

// commitRevision writes the next revision of the tree into the source
// repository and updates its summary, as a publisher would.
func (d *demo) commitRevision(ctx context.Context) error {
	d.revision++
	if err := writeDemoTree(d.tree, d.revision); err != nil {
		return fmt.Errorf("demo: generate revision %d: %w", d.revision, err)
	}
	tx, err := d.source.Begin(ctx)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer tx.Abort()
	tree, meta, err := tx.WriteDirectory(ctx, d.tree, repo.DirOptions{CanonicalPermissions: true})
	if err != nil {
		return fmt.Errorf("demo: commit revision %d: %w", d.revision, err)
	}
	o := repo.CommitOptions{Subject: fmt.Sprintf("Revision %d", d.revision), Timestamp: time.Now()}
	if parent, err := d.source.ReadRef("", demoRef); err == nil {
		o.Parent = &parent
	}
	c, err := tx.WriteCommit(o, tree, meta)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := tx.SetRef("", demoRef, c); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := d.source.UpdateSummary(ctx, time.Now()); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d.log.Info("committed", "revision", d.revision, "commit", c.String())
	return nil
}

// pull brings the client up to date with the source, in-process, through
// the same machinery as `repofs pull`.
func (d *demo) pull(ctx context.Context) error {
	res, err := pull.Pull(ctx, d.client, pull.Options{Remote: "origin", Refs: []string{demoRef}})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d.log.Info("pulled", "ref", "origin:"+demoRef, "commit", res.Refs[demoRef].String(),
		"status", strings.ReplaceAll(statusLine(res.Progress), "\u00a0", " "))
	return nil
}
