// Command repofs keeps OSTree repositories and shows them through FUSE.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// nowFunc is the clock; tests replace it.
var nowFunc = time.Now

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitCorrupt     = 3
	exitLocked      = 4
	exitInterrupted = 130
)

// usageError is a command line mistake: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError carries an exit code chosen by a command (fsck's 3).
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

// env is what every command gets.
type env struct {
	ctx      context.Context
	repoPath string
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
}

// openRepo opens the repository named by --repo or the environment.
func (e *env) openRepo() (*repo.Repo, error) {
	if e.repoPath == "" {
		return nil, usagef("no repository given: use --repo=PATH or set REPOFS_REPO (or OSTREE_REPO)")
	}
	return repo.Open(e.repoPath)
}

// resolveRev opens the repository and resolves a REV in it.
func (e *env) resolveRev(rev string) (*repo.Repo, repo.Checksum, error) {
	r, err := e.openRepo()
	if err != nil {
		return nil, repo.Checksum{}, err
	}
	c, err := r.ResolveRev(rev)
	return r, c, err
}

type command struct {
	name    string
	summary string
	usage   string // arguments, after the command name
	help    string // details and examples
	// run runs a command without options; setup registers a command's
	// options on a fresh FlagSet and returns its run function, so each
	// invocation has its own option values.
	run   runFunc
	setup func(fs *flag.FlagSet) runFunc
}

type runFunc func(e *env, args []string) error

// withFlags makes a command's setup from its options type F: register
// adds the options to the FlagSet, run runs the command with their values.
func withFlags[F any](register func(*F, *flag.FlagSet), run func(*env, *F, []string) error) func(*flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		f := new(F)
		register(f, fs)
		return func(e *env, args []string) error { return run(e, f, args) }
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	global := flag.NewFlagSet("repofs", flag.ContinueOnError)
	global.SetInterspersed(false)
	global.SetOutput(io.Discard)
	repoPath := global.String("repo", "", "")
	help := global.BoolP("help", "h", false, "")
	showVersion := global.Bool("version", false, "")
	if err := global.Parse(args); err != nil {
		fmt.Fprintf(stderr, "error: %v\n\n", err)
		printUsage(stderr)
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintf(stdout, "repofs %s\n", version)
		return exitOK
	}
	rest := global.Args()
	if *help || len(rest) == 0 || rest[0] == "help" {
		if len(rest) > 1 && rest[0] == "help" {
			if c := findCommand(rest[1]); c != nil {
				printCommandHelp(stdout, c)
				return exitOK
			}
		}
		w := stdout
		if len(rest) == 0 && !*help {
			w = stderr
		}
		printUsage(w)
		if w == stderr {
			return exitUsage
		}
		return exitOK
	}
	c := findCommand(rest[0])
	if c == nil {
		fmt.Fprintf(stderr, "error: unknown command %q; run 'repofs --help' for the list\n", rest[0])
		return exitUsage
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cmdHelp := fs.BoolP("help", "h", false, "")
	runf := c.run
	if c.setup != nil {
		runf = c.setup(fs)
	}
	if err := fs.Parse(rest[1:]); err != nil {
		fmt.Fprintf(stderr, "error: %s: %v\nusage: repofs %s %s\n", c.name, err, c.name, c.usage)
		return exitUsage
	}
	if *cmdHelp {
		printCommandHelp(stdout, c)
		return exitOK
	}
	e := &env{ctx: ctx, repoPath: *repoPath, stdin: os.Stdin, stdout: stdout, stderr: stderr}
	if e.repoPath == "" {
		e.repoPath = os.Getenv("REPOFS_REPO")
	}
	if e.repoPath == "" {
		e.repoPath = os.Getenv("OSTREE_REPO")
	}
	err := runf(e, fs.Args())
	return exitCode(err, stderr, c)
}

// exitCode prints err and maps it to the process exit code; this is the one
// place where errors become exit codes.
func exitCode(err error, stderr io.Writer, c *command) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	var ue *usageError
	var ce *exitCodeError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "usage: repofs %s %s\n", c.name, c.usage)
		return exitUsage
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, repo.ErrLocked):
		return exitLocked
	}
	return exitError
}
