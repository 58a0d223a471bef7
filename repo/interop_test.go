package repo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
)

// richTree makes a tree with what each mode must carry: xattrs on files
// and directories, setuid/setgid/sticky bits, owners, symlinks, empty
// files and directories, odd names.
func richTree(t *testing.T) string {
	dir := t.TempDir()
	repotest.WriteTree(t, dir, []repotest.Entry{
		{Path: "hello.txt", Kind: repotest.File, Data: []byte("hello\n"), Xattrs: map[string]string{"user.b": "2", "user.a": "1"}},
		{Path: "empty", Kind: repotest.File},
		{Path: "emptydir", Kind: repotest.Dir},
		{Path: "xdir", Kind: repotest.Dir, Mode: 0o750, Xattrs: map[string]string{"user.dir": "yes"}},
		{Path: "xdir/suid", Kind: repotest.File, Data: []byte("#!/bin/sh\n"), Mode: 0o4755},
		{Path: "sgid", Kind: repotest.Dir, Mode: 0o2755},
		{Path: "sticky", Kind: repotest.Dir, Mode: 0o1777},
		{Path: "owned", Kind: repotest.File, Data: []byte("mine"), UID: 4242, GID: 4343},
		{Path: "link", Kind: repotest.Symlink, Target: "hello.txt"},
		{Path: "abs", Kind: repotest.Symlink, Target: "/etc/passwd"},
		{Path: "with space/日本.txt", Kind: repotest.File, Data: []byte("utf8\n")},
		{Path: "big.bin", Kind: repotest.File, Size: 3<<20 + 17},
	})
	return dir
}

// TestInteropWrite checks what repofs writes against the real ostree: fsck
// is clean, a checkout equals the source, and every object has the
// checksum ostree gives the same tree.
func TestInteropWrite(t *testing.T) {
	repotest.RequireOstree(t)
	src := richTree(t)
	for _, m := range allModes {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			r := initRepo(t, m)
			commitDir(t, r, "main", src)
			repotest.Ostree(t, "--repo="+r.Path(), "fsck")

			theirs := filepath.Join(t.TempDir(), "repo")
			repotest.Init(t, theirs, m.String())
			repotest.Commit(t, theirs, "main", src, repotest.CommitOpts{Subject: "test", Timestamp: "2024-01-01T00:00:00Z"})
			ours := repotest.Ostree(t, "--repo="+r.Path(), "ls", "-R", "-C", "-X", "main")
			want := repotest.Ostree(t, "--repo="+theirs, "ls", "-R", "-C", "-X", "main")
			if ours != want {
				t.Errorf("ostree ls -R -C -X of repofs's commit differs from ostree's own:\n--- ostree\n%s\n--- repofs\n%s", want, ours)
			}
			co := filepath.Join(t.TempDir(), "co")
			args := []string{"--repo=" + r.Path(), "checkout", "main", co}
			if m == ModeBareUser || m == ModeBareUserOnly {
				args = []string{"--repo=" + r.Path(), "checkout", "-U", "main", co}
			}
			repotest.Ostree(t, args...)
			if out, err := exec.Command("diff", "-r", "--no-dereference", src, co).CombinedOutput(); err != nil {
				t.Errorf("ostree checkout of repofs's commit differs from the source: %v\n%s", err, out)
			}
		})
	}
}

// TestInteropConcurrentWithOstree commits from repofs goroutines while the
// real ostree commits into the same repository.
func TestInteropConcurrentWithOstree(t *testing.T) {
	repotest.RequireOstree(t)
	r := initRepo(t, ModeArchive)
	src := richTree(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				if err := commitOnce(r, src, fmt.Sprintf("repofs-%d", g)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 3; i++ {
			out, err := exec.Command("ostree", "--repo="+r.Path(), "commit", "-b", "ostree", "-s", "x", src).CombinedOutput()
			if err != nil {
				errs <- fmt.Errorf("ostree commit: %v: %s", err, out)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
	rep, err := r.Fsck(context.Background(), FsckOptions{})
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("repofs fsck: %v %+v", err, rep)
	}
	if rep.Commits != 4*3+3 {
		t.Errorf("fsck saw %d commits, want %d", rep.Commits, 4*3+3)
	}
	assertNoTmpLeft(t, r)
}

// TestInteropLocksExcludePrune shows that ostree's exclusive lock (prune)
// waits while a repofs transaction holds the shared one: the two tools
// use the same locks.
func TestInteropLocksExcludePrune(t *testing.T) {
	repotest.RequireOstree(t)
	r := initRepo(t, ModeArchive)
	src := richTree(t)
	commitDir(t, r, "main", src)
	// Let ostree give up after 1 s instead of 300.
	cfg, _ := os.ReadFile(filepath.Join(r.Path(), "config"))
	os.WriteFile(filepath.Join(r.Path(), "config"), append(cfg, "lock-timeout-secs=1\n"...), 0o644)
	r, _ = Open(r.Path())
	tx, err := r.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, stderr, code := repotest.RunOstree(t, "--repo="+r.Path(), "prune", "--refs-only")
	if code == 0 || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("ostree prune did not wait for repofs's shared lock: exit %d after %v: %s", code, time.Since(start), stderr)
	}
	if !strings.Contains(strings.ToLower(stderr), "lock") {
		t.Errorf("ostree prune failed for another reason: %s", stderr)
	}
	tx.Abort()
	repotest.Ostree(t, "--repo="+r.Path(), "prune", "--refs-only")
}
