package tmpdir

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain lets a test re-execute the test binary as a lock-holding child
// process, to check that locks exclude other processes and die with them.
func TestMain(m *testing.M) {
	if tmp := os.Getenv("TMPDIR_TEST_HOLD"); tmp != "" {
		d, err := Allocate(context.Background(), tmp, Kind(os.Getenv("TMPDIR_TEST_KIND")), os.Getenv("TMPDIR_TEST_BOOT"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(d.Name)
		time.Sleep(time.Hour) // until killed
	}
	os.Exit(m.Run())
}

func TestAllocateFreshThenReuse(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	d, err := Allocate(ctx, tmp, Staging, "b")
	if err != nil {
		t.Fatal(err)
	}
	if d.Reused || !strings.HasPrefix(d.Name, "staging-b-") || len(d.Name) != len("staging-b-")+6 {
		t.Fatalf("fresh dir: %+v", d)
	}
	if st, err := os.Stat(d.Path); err != nil || !st.IsDir() {
		t.Fatalf("dir not created: %v", err)
	}
	if _, err := os.Stat(d.Path + LockSuffix); err != nil {
		t.Fatalf("lock file missing: %v", err)
	}
	if err := os.WriteFile(filepath.Join(d.Path, "partial"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(d.Path, old, old)
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Path + LockSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Release left the lock file: %v", err)
	}

	// A different kind never picks it up.
	o, err := Allocate(ctx, tmp, Fetcher, "b")
	if err != nil || o.Reused {
		t.Fatalf("other kind: %+v, %v", o, err)
	}
	defer o.Remove()

	r, err := Allocate(ctx, tmp, Staging, "b")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Reused || r.Path != d.Path {
		t.Fatalf("expected reuse of %s, got %+v", d.Path, r)
	}
	if b, err := os.ReadFile(filepath.Join(r.Path, "partial")); err != nil || string(b) != "x" {
		t.Fatalf("reused dir lost its contents: %q %v", b, err)
	}
	if st, _ := os.Stat(r.Path); time.Since(st.ModTime()) > time.Minute {
		t.Fatalf("reuse did not bump mtime: %v", st.ModTime())
	}
	if err := r.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{r.Path, r.Path + LockSuffix} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Remove left %s", p)
		}
	}
}

func TestHeldDirIsNotShared(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	a, err := Allocate(ctx, tmp, Staging, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Remove()
	b, err := Allocate(ctx, tmp, Staging, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Remove()
	if b.Path == a.Path || b.Reused {
		t.Fatalf("a held directory was handed out twice: %s", a.Path)
	}
}

func TestConcurrentAllocateNeverOverlaps(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	var mu sync.Mutex
	held := map[string]bool{}
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				d, err := Allocate(ctx, tmp, Staging, "c")
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				if held[d.Path] {
					mu.Unlock()
					errc <- fmt.Errorf("%s handed out twice", d.Path)
					return
				}
				held[d.Path] = true
				mu.Unlock()
				time.Sleep(time.Duration(g*i%3) * time.Millisecond)
				mu.Lock()
				delete(held, d.Path)
				mu.Unlock()
				if i%4 == 0 {
					err = d.Remove()
				} else {
					err = d.Release()
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	// At most 8 directories exist at once, so reuse kept the count bounded.
	ents, _ := os.ReadDir(tmp)
	n := 0
	for _, e := range ents {
		if e.IsDir() {
			n++
		}
		if strings.HasSuffix(e.Name(), LockSuffix) {
			t.Errorf("lock file left behind: %s", e.Name())
		}
	}
	if n > 8 {
		t.Errorf("%d directories left; reuse should bound them by the 8 concurrent holders", n)
	}
}

func startHolder(t *testing.T, tmp string, k Kind, bootID string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TMPDIR_TEST_HOLD="+tmp, "TMPDIR_TEST_KIND="+string(k), "TMPDIR_TEST_BOOT="+bootID)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		t.Fatalf("holder: %q %v", line, err)
	}
	return cmd, strings.TrimSpace(line)
}

func TestLockExcludesOtherProcessesAndDiesWithThem(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	cmd, name := startHolder(t, tmp, Staging, "p")

	d, err := Allocate(ctx, tmp, Staging, "p")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name == name {
		t.Fatalf("took %s while another process holds it", name)
	}
	if err := Cleanup(ctx, tmp, "other-boot", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tmp, name)); err != nil {
		t.Fatalf("Cleanup removed a directory another process holds: %v", err)
	}
	d.Remove()

	cmd.Process.Kill()
	cmd.Wait()
	r, err := Allocate(ctx, tmp, Staging, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Remove()
	if !r.Reused || r.Name != name {
		t.Fatalf("after the holder died, expected to reuse %s, got %+v", name, r)
	}
}

func TestLockTimeoutAndCancel(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".lock")
	open := func() *os.File {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	a, b := open(), open()
	ctx := context.Background()
	if err := Lock(ctx, a, Shared, 0); err != nil {
		t.Fatal(err)
	}
	// Open file descriptions exclude each other even within one process.
	if err := Lock(ctx, b, Shared, 0); err != nil {
		t.Fatalf("shared + shared: %v", err)
	}
	Unlock(b)
	err := Lock(ctx, b, Exclusive, 50*time.Millisecond)
	if !errors.Is(err, ErrWouldBlock) || !strings.Contains(err.Error(), p) {
		t.Fatalf("exclusive under shared: %v, want ErrWouldBlock naming %s", err, p)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := Lock(cctx, b, Exclusive, -1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait: %v", err)
	}
	// A waiter gets the lock once it is released, and not before.
	var released atomic.Bool
	done := make(chan error)
	go func() {
		err := Lock(ctx, b, Exclusive, 5*time.Second)
		if err == nil && !released.Load() {
			err = errors.New("exclusive lock taken while the shared one was held")
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("waiter returned before the release: %v", err)
	default:
	}
	released.Store(true)
	if err := Unlock(a); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("lock after release: %v", err)
	}
}

func TestCleanup(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	future := time.Now().Add(48 * time.Hour)
	mk := func(name string, dir bool, mtime time.Time) {
		p := filepath.Join(tmp, name)
		var err error
		if dir {
			err = os.MkdirAll(filepath.Join(p, "sub"), 0o755)
		} else {
			err = os.WriteFile(p, []byte("x"), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
	}
	mk("staging-old-AAAAAA", true, time.Now()) // other boot, unlocked: removed
	mk("staging-old-AAAAAA-lock", false, old)  // its lock: removed with it
	mk("fetcher-old-BBBBBB", true, time.Now()) // other boot, no lock file: removed
	mk("staging-cur-CCCCCC", true, old)        // this boot: kept for reuse
	mk("fetcher-cur-DDDDDD", true, old)        // this boot: kept for reuse
	mk("cache", true, old)                     // never touched
	mk("summary-XXXXXX", false, old)           // stray, expired: removed
	mk("fresh-file", false, time.Now())        // stray, young: kept
	mk("future-file", false, future)           // mtime in the future: kept
	mk("old-dir", true, old)                   // stray dir, expired: removed
	held, err := Allocate(ctx, tmp, Staging, "old")
	if err != nil {
		t.Fatal(err)
	}
	// Allocate reused the unlocked staging-old-AAAAAA; hold it, and make a
	// second, unlocked one of the old boot to be removed.
	if held.Name != "staging-old-AAAAAA" {
		t.Fatalf("expected reuse, got %s", held.Name)
	}
	mk("staging-old-EEEEEE", true, time.Now())
	if err := Cleanup(ctx, tmp, "cur", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"staging-old-AAAAAA": true, "staging-old-AAAAAA-lock": true, // held
		"staging-cur-CCCCCC": true, "fetcher-cur-DDDDDD": true,
		"cache": true, "fresh-file": true, "future-file": true,
	}
	ents, _ := os.ReadDir(tmp)
	got := map[string]bool{}
	for _, e := range ents {
		got[e.Name()] = true
	}
	for n := range want {
		if !got[n] {
			t.Errorf("Cleanup removed %s", n)
		}
	}
	for n := range got {
		if !want[n] {
			t.Errorf("Cleanup kept %s", n)
		}
	}
	held.Release()
	if err := Cleanup(ctx, tmp, "cur", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(held.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("released dir of another boot survived Cleanup")
	}
}

func TestBootID(t *testing.T) {
	t.Setenv("OSTREE_BOOTID", "")
	id, err := BootID()
	if err != nil {
		t.Skipf("no boot id on this system: %v", err)
	}
	if len(id) != 36 || strings.Count(id, "-") != 4 {
		t.Errorf("boot id %q is not a UUID", id)
	}
	t.Setenv("OSTREE_BOOTID", "test-boot")
	if id, _ := BootID(); id != "test-boot" {
		t.Errorf("OSTREE_BOOTID override ignored: %q", id)
	}
}

func TestAllocateErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Allocate(ctx, filepath.Join(t.TempDir(), "missing"), Staging, "b"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing tmp: %v", err)
	}
	if _, err := Allocate(ctx, t.TempDir(), Staging, "a/b"); err == nil {
		t.Error("boot id with a slash accepted")
	}
	if _, err := Allocate(ctx, t.TempDir(), Fetcher, ""); err == nil {
		t.Error("empty boot id accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Allocate(cctx, t.TempDir(), Staging, "b"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled allocate: %v", err)
	}
}

// TestFreshDirUsedBeforeLocked: another process may reuse a directory
// between its mkdir and its lock, and be done with it by then. Removed,
// Allocate picks another name; left with work in it, the directory counts
// as reused, so that its contents are verified rather than trusted.
func TestFreshDirUsedBeforeLocked(t *testing.T) {
	for _, tc := range []struct {
		name       string
		meanwhile  func(p string) error
		wantReused bool
		wantSame   bool
	}{
		{"removed", os.Remove, false, false},
		{"left work", func(p string) error { return os.WriteFile(filepath.Join(p, "staged"), []byte("x"), 0o644) }, true, true},
		{"untouched", func(string) error { return nil }, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			var first string
			afterMkdir = func(p string) {
				if first == "" {
					first = p
					if err := tc.meanwhile(p); err != nil {
						t.Error(err)
					}
				}
			}
			t.Cleanup(func() { afterMkdir = func(string) {} })
			d, err := Allocate(context.Background(), tmp, Staging, "x")
			if err != nil {
				t.Fatal(err)
			}
			defer d.Release()
			if (d.Path == first) != tc.wantSame || d.Reused != tc.wantReused {
				t.Errorf("got %s (reused %v), first try %s; want same %v, reused %v", d.Path, d.Reused, first, tc.wantSame, tc.wantReused)
			}
			if _, err := os.Stat(d.Path); err != nil {
				t.Errorf("allocated directory: %v", err)
			}
			if _, err := os.Stat(first + LockSuffix); tc.name == "removed" && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("lock of the vanished directory left: %v", err)
			}
		})
	}
}

// TestPendingClaim: Allocate never reuses a Pending directory, which is
// another process's finished work; Claim locks every one nobody holds,
// of any boot, and no other kind, and a claimed one is held.
func TestPendingClaim(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	left := map[string]bool{}
	for _, boot := range []string{"this", "other"} {
		d, err := Allocate(ctx, tmp, Pending, boot)
		if err != nil {
			t.Fatal(err)
		}
		left[d.Name] = true
		d.Release()
	}
	held, err := Allocate(ctx, tmp, Pending, "this")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Remove()
	if held.Reused || left[held.Name] {
		t.Fatalf("Allocate reused the pending %s", held.Name)
	}
	staging, err := Allocate(ctx, tmp, Staging, "this")
	if err != nil {
		t.Fatal(err)
	}
	staging.Release()
	ds, err := Claim(ctx, tmp, Pending)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range ds {
		got[d.Name] = d.Boot()
	}
	if len(got) != 2 || !left[ds[0].Name] || !left[ds[1].Name] {
		t.Fatalf("claimed %v, want the released pending directories %v", got, left)
	}
	for name, boot := range got {
		if !strings.HasPrefix(name, "pending-"+boot+"-") {
			t.Errorf("%s: Boot() = %q", name, boot)
		}
	}
	if again, err := Claim(ctx, tmp, Pending); err != nil || len(again) != 0 {
		t.Errorf("claimed directories were claimed again: %v, %v", again, err)
	}
	for _, d := range ds {
		if err := d.Remove(); err != nil {
			t.Fatal(err)
		}
	}
}
