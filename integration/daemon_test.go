package integration

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
)

// helloRepo is an archive repository whose ref main holds hello.
func helloRepo(t *testing.T) string {
	t.Helper()
	repotest.RequireOstree(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, repoPath, "archive")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "hello", Kind: repotest.File, Data: []byte("hello\n")}})
	repotest.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	return repoPath
}

// readHello reads hello through the mount and fails the test unless it
// reads right.
func readHello(t *testing.T, mp, when string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(mp, "refs/heads/main/hello")); err != nil || string(b) != "hello\n" {
		t.Fatalf("read through the mount %s: %q %v", when, b, err)
	}
}

// TestMountSurvivesSIGHUP: a hangup (closed terminal, lost SSH session)
// leaves the mount serving.
func TestMountSurvivesSIGHUP(t *testing.T) {
	repoPath, mp := helloRepo(t), t.TempDir()
	cmd, stderr := startMount(t, repoPath, mp, "refs/heads/main")
	for i := 1; i <= 2; i++ {
		cmd.Process.Signal(syscall.SIGHUP)
		logged := func() bool { return strings.Count(stderr.String(), "SIGHUP ignored") == i }
		if !waitUntil(t, 10*time.Second, logged) {
			t.Fatalf("no log of SIGHUP %d; stderr:\n%s", i, stderr)
		}
		readHello(t, mp, "after SIGHUP")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0; stderr:\n%s", code, stderr)
	}
}

// TestMountSurvivesClosedStderr: `repofs mount M 2>&1 | tee log` whose
// reader goes away; the next log lines are lost, the mount is not.
func TestMountSurvivesClosedStderr(t *testing.T) {
	requireFUSE(t)
	repoPath, mp := helloRepo(t), t.TempDir()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(repofsBin, "--repo="+repoPath, "mount", mp)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { killMount(t, cmd, mp); unix.Unmount(mp, unix.MNT_DETACH) })
	line, err := bufio.NewReader(pr).ReadString('\n')
	if !strings.Contains(line, "msg=mounted") {
		t.Fatalf("first log line %q (%v), want msg=mounted", line, err)
	}
	pr.Close() // the reader goes away
	for i := 0; i < 3; i++ {
		cmd.Process.Signal(syscall.SIGUSR1) // one log line each: EPIPE
		cmd.Process.Signal(syscall.SIGHUP)  // and another
		readHello(t, mp, "after its stderr was closed")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM with a closed stderr, want 0", code)
	}
	if isMounted(t, mp) {
		t.Error("still mounted after SIGTERM")
	}
}

// TestMountNotifiesSystemd plays systemd's side of Type=notify: READY=1
// comes only once the mount answers, STOPPING=1 on SIGTERM.
func TestMountNotifiesSystemd(t *testing.T) {
	requireFUSE(t)
	repoPath, mp := helloRepo(t), t.TempDir()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cmd := exec.Command(repofsBin, "--repo="+repoPath, "mount", mp)
	cmd.Env = append(cleanEnv(), "NOTIFY_SOCKET="+sock)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killMount(t, cmd, mp); unix.Unmount(mp, unix.MNT_DETACH) })
	recv := func(want string) string {
		t.Helper()
		buf := make([]byte, 4096)
		for {
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %s: %v; stderr:\n%s", want, err, stderr)
			}
			if msg := string(buf[:n]); strings.Contains("\n"+msg+"\n", "\n"+want+"\n") {
				return msg
			}
		}
	}
	msg := recv("READY=1")
	// Not polled: the mount must answer the moment READY=1 is sent.
	readHello(t, mp, "as READY=1 arrives")
	if !strings.Contains(msg, "STATUS=") {
		t.Errorf("READY=1 without a STATUS=: %q", msg)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	recv("STOPPING=1")
	if code := waitExit(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0; stderr:\n%s", code, stderr)
	}
}

// servedRepo serves an archive repository holding ref main over HTTP and
// returns a client repository with it as remote origin.
func servedRepo(t *testing.T) (client string) {
	t.Helper()
	src := helloRepo(t)
	repotest.Ostree(t, "--repo="+src, "summary", "-u")
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	t.Cleanup(srv.Close)
	client = filepath.Join(t.TempDir(), "client")
	for _, args := range [][]string{
		{"--repo=" + client, "init", "--mode=bare-user"},
		{"--repo=" + client, "remote", "add", "--no-gpg-verify", "origin", srv.URL},
	} {
		if _, stderr, code := repofs(t, args...); code != 0 {
			t.Fatalf("repofs %v: %s", args, stderr)
		}
	}
	return client
}

// TestMountChecksPulls: an unknown remote or ref in --pull is a usage
// error before anything is mounted, not an error logged for ever.
func TestMountChecksPulls(t *testing.T) {
	requireFUSE(t)
	client := servedRepo(t)
	for _, c := range []struct{ pull, want string }{
		{"nosuch", `Remote "nosuch" not found`},
		{"origin:no/such/ref", "publishes no ref no/such/ref"},
		{"origin:bad ref", "Invalid ref name"},
	} {
		mp := t.TempDir()
		_, stderr, code := repofs(t, "--repo="+client, "mount", "--pull="+c.pull, mp)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("--pull=%s: exit %d, stderr %q; want 2 and %q", c.pull, code, stderr, c.want)
		}
		if isMounted(t, mp) {
			t.Errorf("--pull=%s: mounted anyway", c.pull)
			unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
}

// TestMountPullOnSIGHUP: with --pull, SIGHUP pulls now, and a pull that
// changed nothing is no INFO line (it is a DEBUG one, seen with --debug).
func TestMountPullOnSIGHUP(t *testing.T) {
	client := servedRepo(t)
	mp := t.TempDir()
	cmd, stderr := startMount(t, client, mp, "refs/remotes/origin/main", "--pull=origin:main", "--interval=1h", "--debug")
	if !stderr.waitFor("level=INFO msg=pulled", 20*time.Second) {
		t.Fatalf("no first pull; stderr:\n%s", stderr)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	if !stderr.waitFor("level=DEBUG msg=pulled", 20*time.Second) {
		t.Fatalf("SIGHUP did not pull, or not at debug level; stderr:\n%s", stderr)
	}
	if b, err := os.ReadFile(filepath.Join(mp, "refs/remotes/origin/main/hello")); err != nil || string(b) != "hello\n" {
		t.Fatalf("read after SIGHUP: %q %v", b, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 20*time.Second); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, stderr)
	}
	if n := strings.Count(stderr.String(), "level=INFO msg=pulled"); n != 1 {
		t.Errorf("%d INFO lines 'pulled' for one change, want 1; stderr:\n%s", n, stderr)
	}
}

// TestMountHelper mounts the way mount(8) does for a line of /etc/fstab:
// mount(8) runs mount.fuse3, which runs 'repofs SOURCE MOUNTPOINT -o
// OPTIONS' through /bin/sh; repofs must exit once mounted, leaving a
// daemon, and umount must end the daemon with exit 0. mount(8) gives its
// helpers the system's $PATH (/usr/local/sbin:…:/bin), where no test may
// install repofs on the host, so each case finds the binary its own way:
//   - mount.fuse3 run directly, with the binary in its $PATH;
//   - mount(8) with type fuse and source "PROGRAM#SOURCE", the older
//     fstab form, where PROGRAM may be an absolute path;
//   - mount(8) reading an fstab line of type fuse.repofs (README's), in a
//     private mount namespace (unshare -m) where a tmpfs puts repofs in
//     /usr/local/sbin for that namespace only.
func TestMountHelper(t *testing.T) {
	requireFUSE(t)
	helper, err := exec.LookPath("mount.fuse3")
	if err != nil {
		missing(t, "mount.fuse3 (fuse3) not installed")
	}
	for _, tool := range []string{"mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, tool+" (util-linux's mount) not installed")
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("mount(8) of a fuse.repofs line needs root here")
	}
	// The daemon's parent exits; as subreaper this process inherits it
	// and can wait for its exit code.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

	t.Run("mount.fuse3", func(t *testing.T) {
		bin := t.TempDir()
		if err := os.Symlink(repofsBin, filepath.Join(bin, "repofs")); err != nil {
			t.Fatal(err)
		}
		env := append(cleanEnv(), "PATH="+bin+":"+os.Getenv("PATH"))
		repoPath, mp := helloRepo(t), t.TempDir()
		t.Cleanup(func() { unix.Unmount(mp, unix.MNT_DETACH) })
		run := func(opts string) (string, int) {
			return runHelper(t, env, helper, repoPath, mp, "-t", "fuse.repofs", "-o", opts)
		}
		if out, code := run("ro,allow_other,bogus"); code != 2 || !strings.Contains(out, "-o bogus: unknown mount option") {
			t.Errorf("unknown option: exit %d, output %q", code, out)
		}
		if out, code := run("ro,pull=nosuch"); code != 2 || !strings.Contains(out, `Remote "nosuch" not found`) {
			t.Errorf("unknown remote: exit %d, output %q", code, out)
		}
		if isMounted(t, mp) {
			t.Fatal("mounted despite a usage error")
		}
		if out, code := run("ro,allow_other,nodev,nosuid,noatime,_netdev,x-systemd.automount"); code != 0 {
			t.Fatalf("mount.fuse3: exit %d: %s", code, out)
		}
		readHello(t, mp, "mounted by mount.fuse3")
		pid := daemonOf(t, mp)
		if out, err := exec.Command("umount", mp).CombinedOutput(); err != nil {
			t.Fatalf("umount: %v: %s", err, out)
		}
		waitDaemon(t, pid)
	})

	t.Run("mount -t fuse", func(t *testing.T) {
		repoPath, mp := helloRepo(t), t.TempDir()
		t.Cleanup(func() { unix.Unmount(mp, unix.MNT_DETACH) })
		source := repofsBin + "#" + repoPath
		// mount(8)'s exit code is its helper's: 2 for a usage error.
		if out, code := runHelper(t, cleanEnv(), "mount", "-t", "fuse", source, mp, "-o", "ro,bogus"); code != 2 || !strings.Contains(out, "-o bogus: unknown mount option") {
			t.Errorf("unknown option: exit %d, output %q", code, out)
		}
		if out, code := runHelper(t, cleanEnv(), "mount", "-t", "fuse", source, mp, "-o", "ro,allow_other,nodev,nosuid"); code != 0 {
			t.Fatalf("mount -t fuse: exit %d: %s", code, out)
		}
		readHello(t, mp, "mounted by mount(8)")
		if opts := mountOptions(t, mp); !opts["ro"] || !opts["allow_other"] {
			t.Errorf("mount options %v, want ro and allow_other", opts)
		}
		pid := daemonOf(t, mp)
		if out, err := exec.Command("umount", mp).CombinedOutput(); err != nil {
			t.Fatalf("umount: %v: %s", err, out)
		}
		waitDaemon(t, pid)
		if isMounted(t, mp) {
			t.Error("still mounted after umount")
		}
	})

	t.Run("fstab fuse.repofs", func(t *testing.T) {
		for _, tool := range []string{"unshare", "nsenter"} {
			if _, err := exec.LookPath(tool); err != nil {
				missing(t, tool+" (util-linux) not installed")
			}
		}
		client, mp := servedRepo(t), t.TempDir()
		fstab := filepath.Join(t.TempDir(), "fstab")
		line := client + "  " + mp + "  fuse.repofs  ro,allow_other,pull=origin:main,interval=10m,_netdev,nofail  0 0\n"
		if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		// Inside the namespace: repofs in /usr/local/sbin, and a private
		// /run/mount so that libmount's utab (it records _netdev) stays
		// the host's own.
		script := `set -e
[ -d /run/mount ] && mount -t tmpfs tmpfs /run/mount
if [ -d /usr/local/sbin ]; then mount -t tmpfs tmpfs /usr/local/sbin
else mount -t tmpfs tmpfs /usr/local; mkdir /usr/local/sbin; fi
ln -s "$1" /usr/local/sbin/repofs
exec mount --fstab "$2" "$3"`
		out, code := runHelper(t, cleanEnv(), "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", repofsBin, fstab, mp)
		if code != 0 {
			t.Fatalf("mount --fstab in a private namespace: exit %d: %s", code, out)
		}
		pid := daemonOf(t, mp)
		exited := false
		t.Cleanup(func() {
			if !exited {
				unix.Kill(pid, unix.SIGTERM) // it unmounts in its namespace
				waitDaemon(t, pid)
			}
		})
		if isMounted(t, mp) {
			t.Error("the namespace's mount shows on the host")
		}
		// The namespace's view, through the daemon's root.
		hello := filepath.Join("/proc", strconv.Itoa(pid), "root", mp, "refs/remotes/origin/main/hello")
		pulled := func() bool { b, err := os.ReadFile(hello); return err == nil && string(b) == "hello\n" }
		if !waitUntil(t, 20*time.Second, pulled) {
			t.Fatalf("%s not pulled and shown within 20s", hello)
		}
		if out, err := exec.Command("nsenter", "--target", strconv.Itoa(pid), "--mount", "umount", mp).CombinedOutput(); err != nil {
			t.Fatalf("umount in the namespace: %v: %s", err, out)
		}
		exited = true
		waitDaemon(t, pid)
	})
}

// runHelper runs a mount command to its end and returns its output and
// exit code. It returns once no daemon holds its stdout and stderr: the
// daemon leaves them once ready.
func runHelper(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// waitDaemon waits for the daemon pid, reparented to this process, to
// exit, and fails the test unless it exits 0 within 20s.
func waitDaemon(t *testing.T, pid int) {
	t.Helper()
	exited := make(chan unix.WaitStatus, 1)
	go func() {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			t.Errorf("wait for the daemon %d: %v", pid, err)
		}
		exited <- ws
	}()
	select {
	case ws := <-exited:
		if !ws.Exited() || ws.ExitStatus() != 0 {
			t.Errorf("the daemon ended with %v after umount, want exit 0", ws)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the daemon %d did not exit within 20s of umount", pid)
	}
}

// daemonOf finds the repofs process serving mp, our child by now.
func daemonOf(t *testing.T, mp string) int {
	t.Helper()
	var pid int
	found := func() bool {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil {
				continue
			}
			args := strings.Split(string(b), "\x00")
			if len(args) > 2 && filepath.Base(args[0]) == "repofs" && args[2] == mp {
				st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
				// Reparented to this process: its exit code is ours to read.
				if f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:])); len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
					pid, _ = strconv.Atoi(e.Name())
					return true
				}
			}
		}
		return false
	}
	if !waitUntil(t, 10*time.Second, found) {
		t.Fatalf("no repofs daemon of %s reparented to this process", mp)
	}
	return pid
}
