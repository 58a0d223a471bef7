package main

import (
	"fmt"
	"os"
	"time"

	flag "github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/pull"
)

var pullCommand = &command{
	name:    "pull",
	summary: "Fetch refs and their objects from a remote over HTTP",
	usage:   "[--depth=N] [--mirror] [--commit-metadata-only] [--network-retries=N] [--url=URL] [-q] REMOTE [REF|CHECKSUM…]",
	help: `Fetches the named refs (default: the remote's branches, else every ref of
its summary) and every object they need, verifying each before it is
written, in one transaction; refs/remotes/REMOTE/REF moves only when all is
in place. Many pulls may run into one repository at once. An interrupted
pull leaves its partial downloads in a locked tmp/fetcher-* directory; the
next pull resumes them with HTTP Range requests.

Options:
  --depth=N               also fetch N parents (-1: all history)
  --mirror                write refs/heads/REF instead of refs/remotes/REMOTE/REF
  --commit-metadata-only  fetch commits only (they stay marked partial)
  --network-retries=N     attempts per request after the first (default 5)
  --parallel=N            downloads in flight (default 16)
  --url=URL               pull from URL instead of the remote's url
  -q, --quiet             no progress line

Examples:
  repofs --repo=repo pull origin os/main
  repofs --repo=repo pull --depth=-1 origin`,
	setup: withFlags((*pullFlags).register, runPull),
}

type pullFlags struct {
	o     pull.Options
	quiet bool
}

func (f *pullFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.o.Depth, "depth", 0, "")
	fs.BoolVar(&f.o.Mirror, "mirror", false, "")
	fs.BoolVar(&f.o.CommitMetadataOnly, "commit-metadata-only", false, "")
	fs.IntVar(&f.o.Retries, "network-retries", 5, "")
	fs.IntVar(&f.o.Parallel, "parallel", 16, "")
	fs.StringVar(&f.o.URL, "url", "", "")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "")
}

func runPull(e *env, f *pullFlags, args []string) error {
	if len(args) == 0 {
		return usagef("pull needs a REMOTE")
	}
	o := f.o
	if o.Retries <= 0 {
		o.Retries = -1 // no retries; Options reads 0 as "default"
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	o.Remote, o.Refs = args[0], args[1:]
	tty := !f.quiet && isTerminal(e.stderr)
	if tty {
		o.Progress = func(p pull.Progress) {
			if !p.Done {
				fmt.Fprintf(e.stderr, "\r\x1b[K%s", progressLine(p))
			}
		}
	}
	res, err := pull.Pull(e.ctx, r, o)
	if tty {
		fmt.Fprint(e.stderr, "\r\x1b[K")
	}
	if err != nil {
		return err
	}
	if !f.quiet {
		fmt.Fprintln(e.stdout, statusLine(res.Progress))
	}
	return nil
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progressLine is the live line: objects, bytes, rate and ETA.
func progressLine(p pull.Progress) string {
	secs := p.Elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.BytesTransferred) / secs
	}
	eta := "?"
	if p.ContentFetched > 0 && p.ContentTotal > p.ContentFetched {
		left := time.Duration(float64(p.Elapsed) * float64(p.ContentTotal-p.ContentFetched) / float64(p.ContentFetched))
		eta = left.Round(time.Second).String()
	}
	return fmt.Sprintf("Receiving objects: %d/%d content, %d metadata; %s at %s/s; ETA %s",
		p.ContentFetched, p.ContentTotal, p.MetadataFetched, formatSize(float64(p.BytesTransferred)), formatSize(rate), eta)
}

// statusLine is ostree's final line.
func statusLine(p pull.Progress) string {
	transferred := fmt.Sprintf("%d B", p.BytesTransferred)
	if p.BytesTransferred >= 1024 {
		transferred = fmt.Sprintf("%d KiB", p.BytesTransferred/1024)
	}
	return fmt.Sprintf("%d metadata, %d content objects fetched; %s transferred in %d seconds; %s content written",
		p.MetadataFetched, p.ContentFetched, transferred, int(p.Elapsed.Seconds()), formatSize(float64(p.ContentBytesWritten)))
}

// formatSize formats like GLib's g_format_size: SI units, one decimal, a
// no-break space.
func formatSize(n float64) string {
	switch {
	case n < 1000:
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", int64(n))
	case n < 1e6:
		return fmt.Sprintf("%.1f\u00a0kB", n/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.1f\u00a0MB", n/1e6)
	default:
		return fmt.Sprintf("%.1f\u00a0GB", n/1e9)
	}
}
