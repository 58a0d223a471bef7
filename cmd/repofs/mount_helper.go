package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// mount(8) mounts a filesystem of type fuse.repofs through mount.fuse3,
// which runs "/bin/sh -c 'repofs SOURCE MOUNTPOINT -o OPTIONS'" (libfuse's
// util/mount.fuse.c): the program named by the type, found in $PATH, with
// the source, the mountpoint and the options of the fstab line minus the
// ones mount.fuse3 keeps for itself (user, users, nouser, auto, noauto,
// nofail, _netdev, setuid=, drop_privileges). It adds dev and suid unless
// told nodev and nosuid. mount(8) then waits for that program to exit:
// it must mount, then leave a daemon serving and exit 0, as libfuse's
// fuse_daemonize does.

// isMountHelperCall tells mount(8)'s calling convention, SOURCE
// MOUNTPOINT [-o OPTIONS], from a command: the first argument is no
// command and either is a path or comes with -o.
func isMountHelperCall(args []string) bool {
	if len(args) < 2 || strings.HasPrefix(args[0], "-") || args[0] == "help" || findCommand(args[0]) != nil {
		return false
	}
	return strings.Contains(args[0], "/") || containsString(args, "-o")
}

func containsString(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// mountHelperUsage is the usage line of the mount(8) convention.
const mountHelperUsage = "repofs REPO MOUNTPOINT [-o OPTION[,OPTION…]] [-f]"

// helperArgs are the parsed arguments of a mount(8) call.
type helperArgs struct {
	source, mountpoint string
	foreground         bool // -f: serve in the foreground, as 'repofs mount'
	flags              mountFlags
}

// parseHelperArgs reads SOURCE MOUNTPOINT [-o OPTS]… [-f] [-v].
func parseHelperArgs(args []string) (*helperArgs, error) {
	h := &helperArgs{flags: mountFlags{interval: 5 * time.Minute, logFormat: "text"}}
	var pos []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o":
			if i+1 == len(args) {
				return nil, usagef("-o needs OPTIONS")
			}
			i++
			if err := h.addOptions(args[i]); err != nil {
				return nil, err
			}
		case strings.HasPrefix(a, "-o"):
			if err := h.addOptions(a[2:]); err != nil {
				return nil, err
			}
		case a == "-f":
			h.foreground = true
		case a == "-v", a == "-n", a == "-s":
			// mount(8)'s verbose, no-mtab and sloppy: nothing to do here.
		case strings.HasPrefix(a, "-"):
			return nil, usagef("unknown option %s", a)
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return nil, usagef("want a REPO and a MOUNTPOINT")
	}
	h.source, h.mountpoint = pos[0], pos[1]
	return h, nil
}

// ignoredOptions are mount options that mean nothing to a read-only FUSE
// mount, or that mount(8), mount.fuse3 and systemd handle themselves.
var ignoredOptions = map[string]bool{
	"defaults": true, "ro": true, "rw": true, "dev": true, "nodev": true, "suid": true,
	"nosuid": true, "exec": true, "noexec": true, "atime": true, "noatime": true,
	"relatime": true, "norelatime": true, "strictatime": true, "nodiratime": true,
	"diratime": true, "lazytime": true, "nolazytime": true, "sync": true, "async": true,
	"auto": true, "noauto": true, "user": true, "users": true, "nouser": true, "owner": true,
	"nofail": true, "_netdev": true, "default_permissions": true,
}

// addOptions reads one -o list. Every mount is read-only, whatever ro or
// rw says.
func (h *helperArgs) addOptions(list string) error {
	f := &h.flags
	for _, opt := range strings.Split(list, ",") {
		key, val, hasVal := strings.Cut(opt, "=")
		var err error
		switch {
		case opt == "" || ignoredOptions[opt]:
		case strings.HasPrefix(key, "x-") || key == "comment" || key == "fsname" || key == "subtype":
			// systemd's and util-linux's own; the source names the mount
		case key == "allow_other" && !hasVal:
			f.o.AllowOther = true
		case key == "no_xattrs" && !hasVal:
			f.o.NoXattrs = true
		case key == "no_verify" && !hasVal:
			f.noVerify = true
		case key == "nonempty" && !hasVal:
			f.nonEmpty = true
		case key == "debug" && !hasVal:
			f.o.Debug = true
		case key == "pull" && hasVal:
			f.pulls = append(f.pulls, val)
		case key == "interval" && hasVal:
			f.interval, err = time.ParseDuration(val)
		case key == "log_format" && hasVal:
			f.logFormat = val
		case key == "keep" && hasVal:
			// Checked as --keep is, by config: 1 or more.
			if f.keep, err = strconv.Atoi(val); err == nil && f.keep < 1 {
				err = errors.New("want a number of commits, 1 or more")
			}
		case key == "keep_younger_than" && hasVal:
			f.keepAge = val
			_, err = parseAge(val)
		default:
			return usagef("-o %s: unknown mount option; see 'repofs mount --help' and the README", opt)
		}
		if err != nil {
			return usagef("-o %s: %v", opt, err)
		}
	}
	return nil
}

// readyFDEnv names the descriptor on which the daemon started by
// runMountHelper says it is ready.
const readyFDEnv = "REPOFS_MOUNT_READY_FD"

// runMountHelper is 'repofs SOURCE MOUNTPOINT -o OPTIONS' as mount(8)
// runs it: unless -f, it starts itself again as a daemon in a new session
// and exits 0 once the daemon's mount answers, or with the daemon's exit
// code (the daemon has said why on stderr) if it fails first.
func runMountHelper(ctx context.Context, args []string, stderr io.Writer) int {
	helperCmd := &command{name: "REPO", usage: mountHelperUsage[len("repofs REPO "):]}
	h, err := parseHelperArgs(args)
	if err != nil {
		return exitCode(err, stderr, helperCmd)
	}
	cfg, err := h.flags.config()
	if err != nil {
		return exitCode(err, stderr, helperCmd)
	}
	if fd := os.Getenv(readyFDEnv); fd != "" {
		os.Unsetenv(readyFDEnv)
		cfg.ready = daemonReady(fd)
	} else if !h.foreground {
		return startDaemon(ctx, stderr)
	}
	e := &env{ctx: ctx, repoPath: h.source, stdin: os.Stdin, stdout: os.Stdout, stderr: stderr}
	return exitCode(serveMount(e, h.mountpoint, cfg), stderr, helperCmd)
}

// startDaemon runs this very command again, detached, and waits until it
// is ready or has failed.
func startDaemon(ctx context.Context, stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "error: find the repofs binary to start the mount daemon: %v\n", err)
		return exitError
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "error: start the mount daemon: %v\n", err)
		return exitError
	}
	defer pr.Close()
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), readyFDEnv+"=3")
	cmd.Stderr = os.Stderr // until ready: what goes wrong reaches mount(8)'s caller
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		fmt.Fprintf(stderr, "error: start the mount daemon: %v\n", err)
		return exitError
	}
	pw.Close()
	line, _ := bufio.NewReader(pr).ReadString('\n')
	if line == "ready\n" {
		cmd.Process.Release()
		return exitOK
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return ee.ExitCode()
	}
	fmt.Fprintf(stderr, "error: the mount daemon ended before it was ready: %v\n", err)
	return exitError
}

// daemonReady is what the daemon does once its mount answers: leave the
// caller's terminal or pipe (as libfuse's fuse_daemonize does; a stderr
// that is systemd's journal stays), then tell the parent it may exit.
func daemonReady(fdText string) func() {
	return func() {
		detachStdio()
		fd, err := strconv.Atoi(fdText)
		if err != nil {
			return
		}
		f := os.NewFile(uintptr(fd), "ready")
		f.WriteString("ready\n")
		f.Close()
	}
}

// detachStdio points stdin, stdout and stderr at /dev/null, except a
// stderr that is the journal stream systemd gave the mount unit.
func detachStdio() {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer null.Close()
	fds := []int{0, 1}
	if !isJournalStream(os.Stderr) {
		fds = append(fds, 2)
	}
	for _, fd := range fds {
		unix.Dup3(int(null.Fd()), fd, 0)
	}
}

// isJournalStream tells whether f is the stream $JOURNAL_STREAM
// ("DEVICE:INODE") names, as sd_journal_stream_fd(3) recommends checking.
func isJournalStream(f *os.File) bool {
	dev, ino, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return false
	}
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return false
	}
	return strconv.FormatUint(st.Dev, 10) == dev && strconv.FormatUint(st.Ino, 10) == ino
}
