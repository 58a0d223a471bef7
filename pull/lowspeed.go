package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/repofs/repofs/repo"
)

// LowSpeed is ostree's low-speed limit (libcurl's CURLOPT_LOW_SPEED_LIMIT
// and _TIME): a transfer that moves fewer than Bytes bytes a second,
// averaged over Time, is ended. The defaults are ostree's, 1000 bytes a
// second over 30 s; the remote keys low-speed-limit-bytes and
// low-speed-time-secs, and the pull options, change them.
//
// A transfer that sent nothing at all during Time has stalled: that
// connection is dead, and the request is retried (resuming what arrived).
// A transfer that trickles is too slow: retrying it would only trickle
// again, so it fails at once, naming the URL; the next pull resumes it.
// Bytes 0 keeps only the stall check; Time 0 checks stalls over 30 s.
type LowSpeed struct {
	Bytes int64
	Time  time.Duration
}

// stallTimeout is the default low-speed time, and how long a response's
// headers may take. Tests shorten it.
var stallTimeout = 30 * time.Second

// defaultLowSpeedBytes is ostree's default low-speed-limit-bytes.
const defaultLowSpeedBytes = 1000

// ErrTooSlow means a transfer stayed under the low-speed limit.
var ErrTooSlow = errors.New("too slow")

// errStalled means a transfer received nothing for a whole low-speed time.
var errStalled = fmt.Errorf("stalled: %w", syscall.ETIMEDOUT)

// lowSpeedFrom reads the remote's low-speed-limit-bytes and
// low-speed-time-secs, then lets the pull's options override them.
func lowSpeedFrom(keys []repo.ConfigKey, o LowSpeed) (LowSpeed, error) {
	ls := LowSpeed{Bytes: defaultLowSpeedBytes, Time: stallTimeout}
	for _, k := range keys {
		var n uint64
		var err error
		switch k.Key {
		case "low-speed-limit-bytes", "low-speed-time-secs":
			n, err = strconv.ParseUint(k.Value, 10, 32)
			if err != nil {
				return ls, fmt.Errorf("%s=%s: want a whole number", k.Key, k.Value)
			}
		default:
			continue
		}
		if k.Key == "low-speed-limit-bytes" {
			ls.Bytes = int64(n)
		} else {
			ls.Time = time.Duration(n) * time.Second
		}
	}
	if o.Bytes > 0 {
		ls.Bytes = o.Bytes
	}
	if o.Time > 0 {
		ls.Time = o.Time
	}
	if ls.Time <= 0 {
		ls.Bytes, ls.Time = 0, stallTimeout
	}
	return ls, nil
}

// speedGuard enforces the low-speed limit on one response body: every
// Time it looks at what arrived during that window, and cancels the
// request (through its context) when it is too little. Read then fails
// with why, whatever error the cancelled transport gives.
type speedGuard struct {
	r      io.Reader
	ls     LowSpeed
	cancel context.CancelCauseFunc
	n      atomic.Int64 // bytes of the current window

	mu     sync.Mutex
	timer  *time.Timer
	failed error
}

// guard starts enforcing f's low-speed limit on body, whose request
// cancel ends; stop it (Stop) when the body is done with.
func (f *fetcher) guard(body io.Reader, cancel context.CancelCauseFunc) *speedGuard {
	g := &speedGuard{r: body, ls: f.slow, cancel: cancel}
	g.mu.Lock()
	g.timer = time.AfterFunc(g.ls.Time, g.check)
	g.mu.Unlock()
	return g
}

func (g *speedGuard) check() {
	n := g.n.Swap(0)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timer == nil {
		return // stopped
	}
	switch {
	case n == 0:
		g.failed = fmt.Errorf("%w: no data for %v", errStalled, g.ls.Time)
	case float64(n) < float64(g.ls.Bytes)*g.ls.Time.Seconds():
		g.failed = fmt.Errorf("%w: %d bytes in %v, under the low-speed limit of %d bytes/s (low-speed-limit-bytes, low-speed-time-secs): %w",
			ErrTooSlow, n, g.ls.Time, g.ls.Bytes, syscall.ETIMEDOUT)
	default:
		g.timer.Reset(g.ls.Time)
		return
	}
	g.cancel(g.failed)
}

// err is why the guard ended the transfer, or nil.
func (g *speedGuard) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failed
}

func (g *speedGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.n.Add(int64(n))
	if err != nil && err != io.EOF {
		if why := g.err(); why != nil {
			return n, why
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = fmt.Errorf("%w: %w", errStalled, err)
		}
	}
	return n, err
}

// Stop ends the checks.
func (g *speedGuard) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
}

// readErr turns a body's read error into the attempt's error: the guard's
// reason when it ended the transfer (stalled, too slow), else "truncated"
// for a body that ended early, else the error itself.
func readErr(g *speedGuard, err error, got, want int64) error {
	if why := g.err(); why != nil {
		return why
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated: %d of %d bytes: %w", got, want, io.ErrUnexpectedEOF)
	}
	return err
}

// fileWriter writes a partial download; its errors (ENOSPC, EDQUOT, EIO)
// are the disk's, and end the fetch without a retry.
type fileWriter struct {
	w io.Writer
}

func (w fileWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	if err != nil {
		err = permanent(err) // an *os.PathError: it names the file
	}
	return n, err
}
