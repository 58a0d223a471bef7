package integration

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
)

// unprivileged is the user a test runs commands as: the test's own when it
// is not root, else nobody.
type unprivileged struct {
	cred *syscall.Credential // nil: run as ourselves
}

func unprivilegedUser(t *testing.T) unprivileged {
	t.Helper()
	if os.Geteuid() != 0 {
		return unprivileged{}
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("running as root and no user 'nobody' to mount as: %v", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return unprivileged{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
}

func (u unprivileged) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = cleanEnv()
	if u.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred}
	}
	return cmd
}

// run runs a command as the user; without allow_other, only the user who
// mounted may look inside the mount (root included).
func (u unprivileged) run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	out, err := u.command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// share makes p and the directories above it, up to the t.TempDir parent
// (0700), reachable by the user.
func (u unprivileged) share(t *testing.T, p string) {
	t.Helper()
	if u.cred == nil {
		return
	}
	for d := p; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// fuseDeviceOpenable makes sure fusermount3 can open /dev/fuse for the
// user: it opens it with the caller's rights. Container runtimes create it
// 0600, where every distribution's udev rule makes it 0666; as root the
// test widens it for its own duration. fusermount3 opens /dev/fuse by that
// name only, so a private device node cannot stand in for it: the test
// restores the mode in t.Cleanup, whatever happens, and holds a lock on
// the device meanwhile, so that the same test running from another
// checkout at the same time neither restores the mode under this one's
// feet nor takes the widened mode for the host's.
func (u unprivileged) fuseDeviceOpenable(t *testing.T) {
	t.Helper()
	if u.cred == nil {
		return
	}
	dev, err := os.Open("/dev/fuse")
	if err != nil {
		t.Fatalf("/dev/fuse: %v", err)
	}
	t.Cleanup(func() { dev.Close() }) // registered first: runs last, releasing the lock
	if err := unix.Flock(int(dev.Fd()), unix.LOCK_EX); err != nil {
		t.Fatalf("lock /dev/fuse: %v", err)
	}
	st, err := dev.Stat()
	if err != nil {
		t.Fatalf("/dev/fuse: %v", err)
	}
	mode := st.Mode().Perm()
	if mode&0o006 == 0o006 {
		return
	}
	t.Cleanup(func() {
		if err := dev.Chmod(mode); err != nil {
			t.Errorf("restore the mode of /dev/fuse to %v: %v", mode, err)
		}
	})
	t.Logf("/dev/fuse is %v (a container's default); making it 0666 as udev would, for this test", mode)
	if err := dev.Chmod(0o666); err != nil {
		t.Fatal(err)
	}
}

// TestFusermountUnprivileged mounts as an unprivileged user, through
// fusermount3, the way every non-root user mounts: the mount is
// ro,nosuid,nodev, serves files and refs/, and SIGTERM unmounts it cleanly
// with exit status 0.
func TestFusermountUnprivileged(t *testing.T) {
	repotest.RequireOstree(t)
	requireFusermount(t)
	u := unprivilegedUser(t)
	u.fuseDeviceOpenable(t)

	repoPath, src, c := u.repo(t)
	bin := u.binary(t)
	mp := u.mountpoint(t)

	cmd := u.command(bin, "--repo="+repoPath, "mount", mp)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			killMount(t, cmd, mp)
		}
		unix.Unmount(mp, unix.MNT_DETACH)
	})
	if !stderr.waitFor("msg=mounted", 15*time.Second) || !isMounted(t, mp) {
		t.Fatalf("not mounted within 15s; stderr:\n%s", stderr)
	}

	uid := os.Getuid()
	if u.cred != nil {
		uid = int(u.cred.Uid)
	}
	// user_id is the uid fusermount3 mounted for: proof it was not root.
	if opts := mountOptions(t, mp); !opts["ro"] || !opts["nosuid"] || !opts["nodev"] || !opts[fmt.Sprintf("user_id=%d", uid)] {
		t.Errorf("mount options %v, want ro,nosuid,nodev,user_id=%d", opts, uid)
	}
	if out, err := u.run(t, "ls", filepath.Join(mp, "refs")); err != nil || strings.Fields(out)[0] != "heads" {
		t.Errorf("ls refs/: %q %v", out, err)
	}
	if out, err := u.run(t, "readlink", filepath.Join(mp, "refs/heads/os/main")); err != nil || strings.TrimSpace(out) != "../../../commits/"+c {
		t.Errorf("readlink refs/heads/os/main: %q %v", out, err)
	}
	if out, err := u.run(t, "cat", filepath.Join(mp, "refs/heads/os/main/hello")); err != nil || out != "hello\n" {
		t.Errorf("cat through the ref: %q %v", out, err)
	}
	if out, err := u.run(t, "cmp", filepath.Join(mp, "commits", c, "dir/big"), filepath.Join(src, "dir/big")); err != nil {
		t.Errorf("the big file differs: %s %v", out, err)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0; stderr:\n%s", code, stderr)
	}
	if isMounted(t, mp) {
		t.Errorf("still mounted after SIGTERM; stderr:\n%s", stderr)
	}
	if strings.Contains(stderr.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", stderr)
	}
}

// repo makes an archive repository, readable by the user, whose ref
// os/main holds hello and dir/big; it returns it, the tree committed and
// the commit.
func (u unprivileged) repo(t *testing.T) (repoPath, src, commit string) {
	t.Helper()
	repoPath = filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, repoPath, "archive")
	src = t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{
		{Path: "hello", Kind: repotest.File, Data: []byte("hello\n")},
		{Path: "dir/big", Kind: repotest.File, Data: repotest.Pseudorandom("big", 3<<20)},
	})
	commit = repotest.Commit(t, repoPath, "os/main", src, repotest.CommitOpts{})
	u.share(t, repoPath)
	if u.cred != nil {
		// The repository as ostree made it, readable by all; the test
		// does not rely on umask.
		err := filepath.WalkDir(repoPath, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if d.IsDir() {
				mode = 0o755
			}
			return os.Chmod(p, mode)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return repoPath, src, commit
}

// binary returns a copy of repofs the user can run.
func (u unprivileged) binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "repofs")
	if err := os.Link(repofsBin, bin); err != nil {
		b, err := os.ReadFile(repofsBin)
		if err != nil || os.WriteFile(bin, b, 0o755) != nil {
			t.Fatalf("copy the binary: %v", err)
		}
	}
	u.share(t, filepath.Dir(bin))
	return bin
}

// mountpoint returns a directory the user may mount on: fusermount3
// wants the user to be able to write it.
func (u unprivileged) mountpoint(t *testing.T) string {
	t.Helper()
	mp := t.TempDir()
	u.share(t, mp)
	if u.cred != nil {
		if err := os.Chown(mp, int(u.cred.Uid), int(u.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return mp
}

// TestFusermountFails: when fusermount3 fails, mounting or unmounting,
// repofs says so with fusermount3's exit status and message, not a raw
// wait status. A fake fusermount3 first in $PATH fails as asked; for
// the unmount case it mounts through the real one.
func TestFusermountFails(t *testing.T) {
	repotest.RequireOstree(t)
	requireFusermount(t)
	real, _ := exec.LookPath("fusermount3")
	u := unprivilegedUser(t)
	u.fuseDeviceOpenable(t)
	repoPath, _, _ := u.repo(t)
	bin := u.binary(t)

	fake := func(t *testing.T, script string) []string {
		dir := t.TempDir()
		p := filepath.Join(dir, "fusermount3")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
			t.Fatal(err)
		}
		u.share(t, dir)
		var env []string
		for _, kv := range cleanEnv() {
			if !strings.HasPrefix(kv, "PATH=") {
				env = append(env, kv)
			}
		}
		return append(env, "PATH="+dir+":"+os.Getenv("PATH"))
	}

	t.Run("mount", func(t *testing.T) {
		mp := u.mountpoint(t)
		cmd := u.command(bin, "--repo="+repoPath, "mount", mp)
		cmd.Env = fake(t, "echo 'fusermount3: fake mount failure' >&2\nexit 3\n")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("mounted through a failing fusermount3: %s", out)
		}
		want := "mount " + repoPath + " at " + mp + ": fusermount3 exited with status 3"
		if !strings.Contains(string(out), want) || !strings.Contains(string(out), "fake mount failure") {
			t.Errorf("output %q, want %q and fusermount3's message", out, want)
		}
		if strings.Contains(string(out), "code 768") {
			t.Errorf("a raw wait status: %q", out)
		}
	})

	t.Run("unmount", func(t *testing.T) {
		mp := u.mountpoint(t)
		cmd := u.command(bin, "--repo="+repoPath, "mount", mp)
		cmd.Env = fake(t, `if [ "$1" = -u ]; then
	echo "fusermount3: failed to unmount $2: fake failure" >&2
	exit 4
fi
exec `+real+` "$@"
`)
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				killMount(t, cmd, mp)
			}
			unix.Unmount(mp, unix.MNT_DETACH)
		})
		if !stderr.waitFor("msg=mounted", 15*time.Second) {
			t.Fatalf("not mounted within 15s; stderr:\n%s", stderr)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		code := waitExit(t, cmd, 10*time.Second)
		want := "unmount " + mp + ": fusermount3 exited with status 4: fusermount3: failed to unmount " + mp + ": fake failure"
		if code == 0 || !strings.Contains(stderr.String(), want) {
			t.Errorf("exit %d, stderr:\n%s\nwant an error and %q", code, stderr, want)
		}
	})
}

// mountOptions returns the options /proc/mounts shows for mp.
func mountOptions(t *testing.T, mp string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == mp {
			opts := map[string]bool{}
			for _, o := range strings.Split(f[3], ",") {
				opts[o] = true
			}
			return opts
		}
	}
	t.Fatalf("%s is not in /proc/mounts", mp)
	return nil
}
