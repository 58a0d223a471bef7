package integration

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemo runs `repofs demo` as a user would, waits until two revisions
// have come through the mount, reads files from both, and stops it with
// SIGINT: exit 0, nothing mounted, nothing left behind.
func TestDemo(t *testing.T) {
	requireFUSE(t)
	cmd := exec.Command(repofsBin, "demo", "--interval=1s")
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dir string
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if dir != "" {
			syscall.Unmount(filepath.Join(dir, "mnt"), syscall.MNT_DETACH)
			os.RemoveAll(dir)
		}
	})
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	mountRe := regexp.MustCompile(`mounted at\s+(\S+)`)
	deadline := time.After(60 * time.Second)
	var mp string
	for mp == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo ended before mounting; stderr:\n%s", stderr)
			}
			if m := mountRe.FindStringSubmatch(l); m != nil {
				mp = m[1]
				dir = filepath.Dir(mp)
			}
		case <-deadline:
			t.Fatalf("demo did not report its mountpoint; stderr:\n%s", stderr)
		}
	}
	go func() {
		for range lines { // keep draining
		}
	}()

	ref := filepath.Join(mp, "refs", "remotes", "origin", "demo", "main")
	seen := map[string]string{} // commit -> REVISION
	twoRevisions := func() bool {
		target, err := os.Readlink(ref)
		if err != nil {
			return false
		}
		c := filepath.Base(target)
		if _, ok := seen[c]; !ok {
			b, err := os.ReadFile(filepath.Join(mp, "commits", c, "REVISION"))
			if err != nil {
				t.Fatalf("read REVISION of %s: %v", c, err)
			}
			seen[c] = strings.TrimSpace(string(b))
		}
		return len(seen) >= 2
	}
	if !waitUntil(t, 60*time.Second, twoRevisions) {
		t.Fatalf("saw %d revisions in 60s; stderr:\n%s", len(seen), stderr)
	}
	revs := map[string]bool{}
	for c, rev := range seen {
		revs[rev] = true
		// Both commits stay readable, whatever the ref does meanwhile.
		readme, err := os.ReadFile(filepath.Join(mp, "commits", c, "docs", "README.txt"))
		if err != nil || !strings.Contains(string(readme), "revision "+rev) {
			t.Errorf("commit %s: README %q %v, want revision %s", c, readme, err, rev)
		}
		f, err := os.Open(filepath.Join(mp, "commits", c, "data", "blob07.bin"))
		if err != nil {
			t.Errorf("commit %s: %v", c, err)
			continue
		}
		if n, err := io.Copy(io.Discard, f); err != nil || n < 4<<10 {
			t.Errorf("commit %s: blob: %d bytes, %v", c, n, err)
		}
		f.Close()
	}
	if len(revs) != 2 {
		t.Errorf("two commits with the same REVISION: %v", seen)
	}

	cmd.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, cmd, 30*time.Second); code != 0 {
		t.Fatalf("demo exit %d after SIGINT; stderr:\n%s", code, stderr)
	}
	if isMounted(t, mp) {
		t.Error("demo left its mount behind")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("demo left %s behind: %v", dir, err)
	}
}
