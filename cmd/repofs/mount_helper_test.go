package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIsMountHelperCall(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"/srv/repo", "/mnt/os", "-o", "ro,dev,suid"}, true}, // mount.fuse3
		{[]string{"/srv/repo", "/mnt/os"}, true},                      // a path, no options
		{[]string{"repo", "mnt", "-o", "ro"}, true},                   // relative, with -o
		{[]string{"mount", "/mnt/os"}, false},                         // a command
		{[]string{"help", "mount"}, false},
		{[]string{"--repo=r", "ls", "main"}, false},
		{[]string{"typo", "x"}, false}, // an unknown command stays one
		{[]string{"/srv/repo"}, false},
	} {
		if got := isMountHelperCall(c.args); got != c.want {
			t.Errorf("isMountHelperCall(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}

func TestParseHelperArgs(t *testing.T) {
	for _, c := range []struct {
		args    []string
		check   func(*helperArgs) bool
		wantErr string
	}{
		{
			args: []string{"/srv/repo", "/mnt/os", "-o", "ro,allow_other,pull=origin,pull=other:os/main,interval=1m,dev,suid,_netdev,x-systemd.automount"},
			check: func(h *helperArgs) bool {
				return h.source == "/srv/repo" && h.mountpoint == "/mnt/os" && h.flags.o.AllowOther &&
					slices.Equal(h.flags.pulls, []string{"origin", "other:os/main"}) && h.flags.interval == time.Minute && !h.foreground
			},
		},
		{
			args: []string{"-f", "-oro,no_xattrs,debug,log_format=json", "/r", "/m"},
			check: func(h *helperArgs) bool {
				return h.foreground && h.flags.o.NoXattrs && h.flags.o.Debug && h.flags.logFormat == "json"
			},
		},
		{args: []string{"/r", "/m", "-o", "no_verify,nonempty"}, check: func(h *helperArgs) bool { return h.flags.noVerify && h.flags.nonEmpty }},
		{
			args:  []string{"/r", "/m", "-o", "pull=origin:os/main,keep=3,keep_younger_than=30d"},
			check: func(h *helperArgs) bool { return h.flags.keep == 3 && h.flags.keepAge == "30d" },
		},
		{args: []string{"/r", "/m", "-o", "pull=origin,keep_younger_than=36h"}, check: func(h *helperArgs) bool { return h.flags.keep == 0 && h.flags.keepAge == "36h" }},
		{args: []string{"/r", "/m", "-o", "keep=0"}, wantErr: "-o keep=0: want a number of commits"},
		{args: []string{"/r", "/m", "-o", "keep=-2"}, wantErr: "-o keep=-2: want a number of commits"},
		{args: []string{"/r", "/m", "-o", "keep=three"}, wantErr: "-o keep=three: "},
		{args: []string{"/r", "/m", "-o", "keep"}, wantErr: "-o keep: unknown mount option"},
		{args: []string{"/r", "/m", "-o", "keep_younger_than=soon"}, wantErr: "-o keep_younger_than=soon: want a positive duration"},
		{args: []string{"/r", "/m", "-o", "keep_younger_than=0d"}, wantErr: "-o keep_younger_than=0d: want a positive duration"},
		{args: []string{"/r", "/m", "-o", "bogus"}, wantErr: "-o bogus: unknown mount option"},
		{args: []string{"/r", "/m", "-o", "allow_other=1"}, wantErr: "-o allow_other=1: unknown"},
		{args: []string{"/r", "/m", "-o", "interval=soon"}, wantErr: "-o interval=soon"},
		{args: []string{"/r", "/m", "-o"}, wantErr: "-o needs OPTIONS"},
		{args: []string{"/r", "/m", "-x"}, wantErr: "unknown option -x"},
		{args: []string{"/r"}, wantErr: "want a REPO and a MOUNTPOINT"},
	} {
		h, err := parseHelperArgs(c.args)
		var ue *usageError
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.As(err, &ue)):
			t.Errorf("%q: error %v, want a usage error with %q", c.args, err, c.wantErr)
		case c.wantErr == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.wantErr == "" && !c.check(h):
			t.Errorf("%q: parsed as %+v", c.args, h)
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		interval time.Duration
		failures int
		want     time.Duration
	}{
		{time.Minute, 1, time.Minute},
		{time.Minute, 2, 2 * time.Minute},
		{time.Minute, 4, 8 * time.Minute},
		{time.Minute, 7, time.Hour}, // 64 minutes, capped at an hour
		{time.Minute, 1000, time.Hour},
		{time.Second, 7, 64 * time.Second}, // 64 intervals
		{time.Second, 100, 64 * time.Second},
		{2 * time.Hour, 5, 2 * time.Hour}, // never less than the interval
	} {
		if got := backoff(c.interval, c.failures); got != c.want {
			t.Errorf("backoff(%v, %d) = %v, want %v", c.interval, c.failures, got, c.want)
		}
	}
}

func TestParsePullSpecs(t *testing.T) {
	specs, err := parsePullSpecs([]string{"origin", "origin:os/main"})
	if err != nil || !slices.Equal(specs, []pullSpec{{"origin", ""}, {"origin", "os/main"}}) {
		t.Errorf("got %v, %v", specs, err)
	}
	for _, bad := range []string{":os/main", "origin:bad ref", "origin:/x"} {
		if _, err := parsePullSpecs([]string{bad}); err == nil {
			t.Errorf("--pull=%s accepted", bad)
		}
	}
}

// TestHelperRetention: keep= and keep_younger_than= become the mount's
// retention as --keep and --keep-younger-than do, and need a pull= too.
func TestHelperRetention(t *testing.T) {
	for _, c := range []struct {
		opts    string
		want    retention
		wantErr string
	}{
		{opts: "pull=origin:os/main,keep=3", want: retention{keep: 3}},
		{opts: "pull=origin,keep_younger_than=30d", want: retention{youngerThan: 30 * 24 * time.Hour}},
		{opts: "pull=origin,keep=2,keep_younger_than=36h", want: retention{keep: 2, youngerThan: 36 * time.Hour}},
		{opts: "pull=origin", want: retention{}},
		{opts: "keep=3", wantErr: "apply to the refs of --pull"},
		{opts: "allow_other,keep_younger_than=1d", wantErr: "apply to the refs of --pull"},
	} {
		h, err := parseHelperArgs([]string{"/r", "/m", "-o", c.opts})
		if err != nil {
			t.Errorf("-o %s: %v", c.opts, err)
			continue
		}
		cfg, err := h.flags.config()
		var ue *usageError
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.As(err, &ue)):
			t.Errorf("-o %s: error %v, want a usage error with %q", c.opts, err, c.wantErr)
		case c.wantErr == "" && err != nil:
			t.Errorf("-o %s: %v", c.opts, err)
		case c.wantErr == "" && cfg.retain != c.want:
			t.Errorf("-o %s: retention %+v, want %+v", c.opts, cfg.retain, c.want)
		}
	}
}
