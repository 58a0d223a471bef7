package integration

import (
	"bytes"
	"errors"
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

	"github.com/repofs/repofs/internal/repotest"
)

// contentObject returns the object file of path in rev of a bare-user
// repository, from `repofs ls -C`.
func contentObject(t *testing.T, repoPath, rev, path string) string {
	t.Helper()
	stdout, stderr, code := repofs(t, "--repo="+repoPath, "ls", "-C", rev, path)
	f := strings.Fields(stdout)
	if code != 0 || len(f) < 5 {
		t.Fatalf("ls -C %s %s: exit %d: %s", rev, path, code, stderr)
	}
	cs := f[4]
	return filepath.Join(repoPath, "objects", cs[:2], cs[2:]+".file")
}

// TestVerifiedMountReads: in a bare-user repository, a file whose object
// has a flipped byte reads EIO through the mount (a small file and a
// large one), the mount logs the object; after `repofs fsck --delete` and
// a pull repaired it, the same running mount serves the right bytes.
func TestVerifiedMountReads(t *testing.T) {
	requireFUSE(t)
	files := map[string][]byte{
		"/small": []byte("one READ\n"),
		"/large": bytes.Repeat([]byte("several READs\n"), (3<<20)/14),
	}
	src := filepath.Join(t.TempDir(), "src")
	tree := t.TempDir()
	var es []repotest.Entry
	for p, b := range files {
		es = append(es, repotest.Entry{Path: p[1:], Kind: repotest.File, Data: b})
	}
	repotest.WriteTree(t, tree, es)
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer srv.Close()
	client := filepath.Join(t.TempDir(), "client")
	run := func(want int, args ...string) string {
		t.Helper()
		_, stderr, code := repofs(t, args...)
		if code != want {
			t.Fatalf("repofs %v: exit %d, want %d: %s", args, code, want, stderr)
		}
		return stderr
	}
	run(0, "--repo="+src, "init", "--mode=archive")
	run(0, "--repo="+src, "commit", "-b", "main", "--tree=dir="+tree)
	run(0, "--repo="+src, "summary", "-u")
	run(0, "--repo="+client, "init", "--mode=bare-user")
	run(0, "--repo="+client, "remote", "add", "--no-gpg-verify", "origin", srv.URL)
	run(0, "--repo="+client, "pull", "origin", "main")

	mp := t.TempDir()
	cmd, stderr := startMount(t, client, mp, "refs/remotes/origin/main")
	root := filepath.Join(mp, "refs/remotes/origin/main")
	objects := map[string]string{}
	for p, b := range files {
		objects[p] = contentObject(t, client, "origin:main", p)
		flipByteAt(t, objects[p], int64(len(b)/2))
	}
	for p := range files {
		b, err := os.ReadFile(root + p)
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("read corrupted %s: %d bytes, %v; want EIO", p, len(b), err)
		}
		// The mount logs before it answers, but the line reaches this
		// buffer through a pipe and a goroutine that may lag behind.
		if !stderr.waitFor(objects[p], 10*time.Second) {
			t.Errorf("the mount's log does not name the object %s of %s:\n%s", objects[p], p, stderr)
		}
		// cp and cat read nothing either.
		if out, err := exec.Command("cat", root+p).Output(); err == nil || len(out) != 0 {
			t.Errorf("cat %s: %d bytes, %v; want an error and nothing", p, len(out), err)
		}
	}

	out := run(3, "--repo="+client, "fsck", "--delete")
	if n := strings.Count(out, "Deleted corrupted object"); n != len(files) {
		t.Fatalf("fsck --delete deleted %d objects, want %d:\n%s", n, len(files), out)
	}
	run(0, "--repo="+client, "pull", "origin", "main")
	for p, want := range files {
		b, err := os.ReadFile(root + p)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s after the repair, same mount: %d bytes, %v; want the %d bytes committed", p, len(b), err, len(want))
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("mount: exit %d; stderr:\n%s", code, stderr)
	}
}

// flipByteAt inverts the byte at off of file p in place.
func flipByteAt(t *testing.T, p string, off int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatalf("flip byte %s of %s: %v", strconv.FormatInt(off, 10), p, err)
	}
}
