package repo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStagingWithoutTmpfile plays a filesystem without O_TMPFILE: the
// first attempt fails as such a filesystem fails it, and every object is
// then staged under a temporary name and renamed. The commit must come out
// identical to one staged through O_TMPFILE, pass fsck, and leave no
// temporary behind.
func TestStagingWithoutTmpfile(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EOPNOTSUPP, unix.EISDIR} {
		for _, m := range allModes {
			t.Run(errno.Error()+"/"+m.String(), func(t *testing.T) {
				src := t.TempDir()
				writeTestTree(t, src, 1)
				want := commitDir(t, initRepo(t, m), "main", src)

				var calls atomic.Int32
				orig := openTmpfile
				openTmpfile = func(int) (int, error) { calls.Add(1); return -1, errno }
				defer func() { openTmpfile = orig }()

				r := initRepo(t, m)
				ctx := context.Background()
				tx, err := r.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				tree, meta, err := tx.WriteDirectory(ctx, src, DirOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if !tx.stage.noTmpfile.Load() {
					t.Fatal("the transaction did not switch to named temporaries")
				}
				// Writers that start together may each try it before the
				// first failure is recorded, but no more than that.
				if n := int(calls.Load()); n < 1 || n > 2*runtime.NumCPU() {
					t.Errorf("O_TMPFILE tried %d times, want once per transaction (at most once per concurrent writer)", n)
				}
				assertNoStagedTemporaries(t, tx.staging.Path)
				tx.Abort()
				// The aborted staging directory is reused; commit the same
				// tree again and publish it.
				got := commitDir(t, r, "main", src)
				if got != want {
					t.Errorf("commit %s, want %s (as staged through O_TMPFILE)", got, want)
				}
				c, err := r.ReadCommit(got)
				if err != nil {
					t.Fatal(err)
				}
				if c.RootTree != tree || c.RootMeta != meta {
					t.Errorf("root %s/%s, want %s/%s", c.RootTree, c.RootMeta, tree, meta)
				}
				if rep, err := r.Fsck(ctx, FsckOptions{}); err != nil || len(rep.Problems) > 0 {
					t.Fatalf("fsck: %v %+v", err, rep)
				}
				assertNoTmpLeft(t, r)
			})
		}
	}
}

// TestTmpfileStagesUnnamed checks that, where O_TMPFILE works, an object
// being written has no name until it is placed, and that a failed write
// leaves nothing behind either way.
func TestTmpfileStagesUnnamed(t *testing.T) {
	r := initRepo(t, ModeBareUser)
	tx, err := r.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	if tx.stage.noTmpfile.Load() {
		t.Skip("no O_TMPFILE here")
	}
	for _, named := range []bool{false, true} {
		s, err := tx.stage.create(named)
		if err != nil {
			t.Fatal(err)
		}
		if (s.name != "") != named {
			t.Errorf("create(%v) gave name %q", named, s.name)
		}
		s.Write([]byte("debris"))
		tx.discard(s, nil)
		assertNoStagedTemporaries(t, tx.staging.Path)
	}
	fi := &FileInfo{Mode: sIFREG | 0o644, Size: 5}
	c, err := tx.WriteContent(fi, strings.NewReader("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := tx.HasObject(c, ObjFile); !ok || err != nil {
		t.Fatalf("staged object not found: %v %v", ok, err)
	}
	if _, err := tx.WriteContent(fi, strings.NewReader("hello"), nil); err != nil {
		t.Fatalf("staging an identical object again: %v", err)
	}
	if _, err := tx.WriteContent(fi, strings.NewReader("hell"), nil); err == nil {
		t.Fatal("a short payload was staged")
	}
	assertNoStagedTemporaries(t, tx.staging.Path)
}

// assertNoStagedTemporaries checks that staging holds only XX/ directories.
func assertNoStagedTemporaries(t *testing.T, staging string) {
	t.Helper()
	ents, err := os.ReadDir(staging)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.IsDir() || len(e.Name()) != 2 {
			t.Errorf("staging holds %s", filepath.Join(staging, e.Name()))
		}
	}
}

// TestBackgroundWriteback: every writebackEvery staged bytes start one
// background flush, never two at once, and closing the staging directory
// waits for it (it uses the directory's descriptor).
func TestBackgroundWriteback(t *testing.T) {
	r := initRepo(t, ModeBareUser)
	tx, err := r.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	d := tx.stage
	d.wrote(writebackEvery - 1)
	if d.flushing.Load() || d.dirty.Load() != writebackEvery-1 {
		t.Fatalf("flushing %v with %d dirty bytes, below the threshold", d.flushing.Load(), d.dirty.Load())
	}
	d.flushing.Store(true) // one is running
	d.wrote(1)
	if d.dirty.Load() != writebackEvery {
		t.Fatalf("a second flush began while one ran (%d dirty bytes left)", d.dirty.Load())
	}
	d.flushing.Store(false)
	d.wrote(1)
	if d.dirty.Load() != 0 {
		t.Fatalf("no flush began at %d dirty bytes", writebackEvery+1)
	}
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	if d.flushing.Load() {
		t.Fatal("close returned while the flush ran")
	}
}

// TestLinkTmpfileFallback: where linkat with AT_EMPTY_PATH is refused
// (ENOENT or EPERM: no CAP_DAC_READ_SEARCH), an O_TMPFILE is linked
// through /proc instead, and AT_EMPTY_PATH is not tried again; an
// existing name still fails with EEXIST either way.
func TestLinkTmpfileFallback(t *testing.T) {
	for _, refusal := range []error{unix.ENOENT, unix.EPERM} {
		t.Run(refusal.Error(), func(t *testing.T) {
			dir := t.TempDir()
			dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(dirfd)
			tried := 0
			old := linkEmptyPath
			linkEmptyPath = func(int, int, string) error { tried++; return refusal }
			defer func() { linkEmptyPath = old; noEmptyPathLink.Store(false) }()
			noEmptyPathLink.Store(false)
			link := func(name, content string) error {
				fd, err := openTmpfile(dirfd)
				if err != nil {
					t.Skipf("no O_TMPFILE here: %v", err)
				}
				defer unix.Close(fd)
				if _, err := unix.Write(fd, []byte(content)); err != nil {
					t.Fatal(err)
				}
				return linkTmpfile(fd, dirfd, name)
			}
			if err := link("a", "first"); err != nil {
				t.Fatalf("link through /proc after %v: %v", refusal, err)
			}
			if !noEmptyPathLink.Load() || tried != 1 {
				t.Fatalf("after a refusal: fallback set %v, AT_EMPTY_PATH tried %d times", noEmptyPathLink.Load(), tried)
			}
			if err := link("a", "second"); !errors.Is(err, unix.EEXIST) {
				t.Fatalf("linking over an existing name: %v, want EEXIST", err)
			}
			if tried != 1 {
				t.Fatalf("AT_EMPTY_PATH tried again after the fallback was set")
			}
			if b, err := os.ReadFile(filepath.Join(dir, "a")); err != nil || string(b) != "first" {
				t.Fatalf("a holds %q, %v; want the first writer's bytes", b, err)
			}
		})
	}
}
