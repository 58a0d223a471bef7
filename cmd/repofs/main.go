// Command repofs keeps OSTree repositories and shows them through FUSE.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	flag "github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// nowFunc is the clock; tests replace it.
var nowFunc = time.Now

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if isMountHelperCall(args) {
		return runMountHelper(ctx, args, stderr)
	}
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
		printVersion(stdout)
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
