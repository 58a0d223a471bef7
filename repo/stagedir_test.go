package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
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

// TestWritebackAfter: a flush starts after an eighth of what was staged,
// no sooner than writebackMin and no later than writebackMax.
func TestWritebackAfter(t *testing.T) {
	for _, tc := range []struct{ total, want int64 }{
		{0, writebackMin},
		{writebackMin, writebackMin},
		{8 * writebackMin, writebackMin},
		{24 << 20, 3 << 20},
		{100 << 20, 100 << 20 / 8},
		{8 * writebackMax, writebackMax},
		{1 << 40, writebackMax},
	} {
		if got := writebackAfter(tc.total); got != tc.want {
			t.Errorf("writebackAfter(%d) = %d, want %d", tc.total, got, tc.want)
		}
	}
}

// TestBackgroundWriteback: staged bytes start a background flush as
// writebackAfter says (a small transaction's first after writebackMin),
// never two at once, and closing the staging directory waits for it (it
// uses the directory's descriptor).
func TestBackgroundWriteback(t *testing.T) {
	r := initRepo(t, ModeBareUser)
	tx, err := r.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	d := tx.stage
	d.wrote(writebackMin - 1)
	if d.flushing.Load() || d.dirty.Load() != writebackMin-1 {
		t.Fatalf("flushing %v with %d dirty bytes, below the threshold", d.flushing.Load(), d.dirty.Load())
	}
	d.flushing.Store(true) // one is running
	d.wrote(1)
	if d.dirty.Load() != writebackMin {
		t.Fatalf("a second flush began while one ran (%d dirty bytes left)", d.dirty.Load())
	}
	d.flushing.Store(false)
	d.wrote(1)
	if d.dirty.Load() != 0 {
		t.Fatalf("no flush began at %d dirty bytes", writebackMin+1)
	}
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	if d.flushing.Load() {
		t.Fatal("close returned while the flush ran")
	}
	// Later flushes wait for an eighth of what was staged.
	d.total.Store(80 << 20)
	d.wrote(writebackAfter(80<<20) - 1)
	if d.flushing.Load() || d.dirty.Load() == 0 {
		t.Fatalf("a flush began at %d dirty bytes of %d staged", d.dirty.Load(), d.total.Load())
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
				fd, err := unix.Openat(dirfd, ".", unix.O_WRONLY|unix.O_TMPFILE|unix.O_CLOEXEC, 0o600)
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

// TestStageCreateModeMatchesOstree pulls (stages the .filez and metadata
// an archive remote serves, as pull does) a tree of many file modes into
// bare-user and archive repositories under umask 022 and 077, through
// O_TMPFILE and through named temporaries, and checks
// every object against what `ostree pull-local` makes of the same archive
// under the same umask: bytes, mode, owner and user.ostreemeta. Objects
// are created with their final mode where the umask allows it, so fchmod
// runs for exactly those whose mode the umask would cut.
func TestStageCreateModeMatchesOstree(t *testing.T) {
	repotest.RequireOstree(t)
	src := t.TempDir()
	var entries []repotest.Entry
	for _, m := range []uint32{0o644, 0o755, 0o775, 0o664, 0o600, 0o700, 0o444, 0o400, 0o4755, 0o000} {
		entries = append(entries, repotest.Entry{Path: fmt.Sprintf("f%04o", m), Kind: repotest.File, Data: []byte(fmt.Sprintf("mode %o\n", m)), Mode: m})
	}
	entries = append(entries,
		repotest.Entry{Path: "owned", Kind: repotest.File, Data: []byte("mine"), UID: 4242, GID: 4343, Xattrs: map[string]string{"user.a": "1"}},
		repotest.Entry{Path: "link", Kind: repotest.Symlink, Target: "f0644"},
		repotest.Entry{Path: "sub", Kind: repotest.Dir, Mode: 0o750},
		repotest.Entry{Path: "sub/big.bin", Kind: repotest.File, Size: maxStageWhole + 12345, Mode: 0o755},
	)
	repotest.WriteTree(t, src, entries)
	archive := initRepo(t, ModeArchive)
	commit := commitDir(t, archive, "main", src)

	for _, mode := range []Mode{ModeBareUser, ModeArchive} {
		for _, umask := range []uint32{0o022, 0o077} {
			for _, named := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/umask%04o/named=%v", mode, umask, named), func(t *testing.T) {
					if named {
						// A filesystem without O_TMPFILE: named temporaries, renamed.
						orig := openTmpfile
						openTmpfile = func(int) (int, error) { return -1, unix.EOPNOTSUPP }
						defer func() { openTmpfile = orig }()
					}
					testStageCreateMode(t, archive, commit, mode, umask)
				})
			}
		}
	}
}

// testStageCreateMode is one case of TestStageCreateModeMatchesOstree.
func testStageCreateMode(t *testing.T, archive *Repo, commit Checksum, mode Mode, umask uint32) {
	old := unix.Umask(int(umask))
	defer unix.Umask(old)
	oldU := stageUmask
	stageUmask = func() uint32 { return umask }
	defer func() { stageUmask = oldU }()
	var chmods atomic.Int32
	oldC := fchmodObject
	fchmodObject = func(fd int, m uint32) error { chmods.Add(1); return oldC(fd, m) }
	defer func() { fchmodObject = oldC }()

	want := filepath.Join(t.TempDir(), "ostree")
	for _, args := range [][]string{{"init", "--mode=" + mode.String()}, {"pull-local", archive.Path(), "main"}} {
		if out, err := exec.Command("ostree", append([]string{"--repo=" + want}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ostree %v: %v\n%s", args, err, out)
		}
	}
	r := initRepo(t, mode)
	expectChmods := stageArchiveObjects(t, archive, r, commit, umask)
	if got := int(chmods.Load()); got != expectChmods {
		t.Errorf("%d fchmods, want %d (one per object whose mode the umask cuts)", got, expectChmods)
	}
	compareObjects(t, want, r.Path())
}

// stageArchiveObjects stages every object of archive into r in one
// transaction, as a pull from it would (content whole and streamed, in
// turn), and returns how many staged files' modes umask cuts.
func stageArchiveObjects(t *testing.T, archive, r *Repo, commit Checksum, umask uint32) int {
	t.Helper()
	ctx := context.Background()
	tx, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	cut := 0
	i := 0
	err = filepath.WalkDir(filepath.Join(archive.Path(), "objects"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := filepath.Base(filepath.Dir(p)) + d.Name()
		sum, ext, _ := strings.Cut(name, ".")
		c, err := ParseChecksum(sum)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		perm := uint32(0o644)
		switch ext {
		case "filez":
			i++
			var fi *FileInfo
			if i%2 == 0 {
				fi, err = tx.WriteArchiveBytes(data, c)
			} else {
				fi, err = tx.WriteArchiveStream(bytes.NewReader(data), int64(len(data)), c)
			}
			if fi != nil {
				perm = objectPerm(fi, r.mode)
			}
		case "dirtree":
			_, err = tx.WriteMetadata(ObjDirTree, data, &c)
		case "dirmeta":
			_, err = tx.WriteMetadata(ObjDirMeta, data, &c)
		case "commit":
			_, err = tx.WriteMetadata(ObjCommit, data, &c)
		default:
			return fmt.Errorf("unexpected object %s", p)
		}
		if perm&umask != 0 || perm == 0 {
			cut++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.SetRef("", "main", commit); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return cut
}

// compareObjects checks that the repositories want and got hold the same
// objects, each with the same bytes, mode, owner and user.ostreemeta.
func compareObjects(t *testing.T, want, got string) {
	t.Helper()
	list := func(repo string) map[string]bool {
		m := map[string]bool{}
		filepath.WalkDir(filepath.Join(repo, "objects"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(repo, p)
				m[rel] = true
			}
			return err
		})
		return m
	}
	w, g := list(want), list(got)
	if len(w) == 0 || !maps.Equal(w, g) {
		t.Fatalf("objects differ:\nostree %v\nrepofs %v", slices.Sorted(maps.Keys(w)), slices.Sorted(maps.Keys(g)))
	}
	for rel := range w {
		var sw, sg unix.Stat_t
		if err := unix.Lstat(filepath.Join(want, rel), &sw); err != nil {
			t.Fatal(err)
		}
		if err := unix.Lstat(filepath.Join(got, rel), &sg); err != nil {
			t.Fatal(err)
		}
		if sw.Mode != sg.Mode || sw.Uid != sg.Uid || sw.Gid != sg.Gid {
			t.Errorf("%s: mode %o uid %d gid %d, ostree's %o %d %d", rel, sg.Mode, sg.Uid, sg.Gid, sw.Mode, sw.Uid, sw.Gid)
		}
		bw, _ := os.ReadFile(filepath.Join(want, rel))
		bg, _ := os.ReadFile(filepath.Join(got, rel))
		if !bytes.Equal(bw, bg) {
			t.Errorf("%s: bytes differ from ostree's", rel)
		}
		xw, xg := ostreemetaXattr(filepath.Join(want, rel)), ostreemetaXattr(filepath.Join(got, rel))
		if !bytes.Equal(xw, xg) {
			t.Errorf("%s: user.ostreemeta %x, ostree's %x", rel, xg, xw)
		}
	}
}

func ostreemetaXattr(p string) []byte {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(p, "user.ostreemeta", buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}
