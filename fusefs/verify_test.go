package fusefs

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
	"github.com/repofs/repofs/repo"
)

// lockedBuffer is a log destination the mount writes to from its own
// goroutines while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// verifyFixture commits a small file (one READ) and a large one (several
// READs, checked by VerifyContent first) to a bare-user repository.
func verifyFixture(t *testing.T) (repoPath, commit, src string, files map[string][]byte) {
	t.Helper()
	repoPath = filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "bare-user")
	files = map[string][]byte{
		"small": []byte("small file, read whole by its first READ\n"),
		"large": bytes.Repeat([]byte("large file, read in several READs\n"), (3<<20)/34),
	}
	src = t.TempDir()
	var es []repotest.Entry
	for name, b := range files {
		es = append(es, repotest.Entry{Path: name, Kind: repotest.File, Data: b})
	}
	repotest.WriteTree(t, src, es)
	return repoPath, testrepo.Commit(t, repoPath, "main", src, repotest.CommitOpts{}), src, files
}

// objectOf returns the object file of name in commit c.
func objectOf(t *testing.T, repoPath, c, name string) string {
	t.Helper()
	r, err := repo.Open(repoPath)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := repo.ParseChecksum(c)
	commit, err := r.ReadCommit(cs)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Resolve(repo.RootNode(commit), name)
	if err != nil {
		t.Fatal(err)
	}
	return r.ObjectPath(n.Content, repo.ObjFile)
}

func flipByte(t *testing.T, p string, off int64) {
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
		t.Fatal(err)
	}
}

// TestVerifiedReads: a corrupted object of a bare repository reads EIO
// through the mount (small and large files, the byte flipped at the end,
// past the first READ), is logged once by its object path, and once
// repaired (the object deleted and written again, as fsck --delete and a
// pull do) reads right in the same mount.
func TestVerifiedReads(t *testing.T) {
	repoPath, c, src, files := verifyFixture(t)
	var log lockedBuffer
	_, mp := testMountWith(t, repoPath, MountOptions{Options: Options{Logger: slog.New(slog.NewTextHandler(&log, nil))}})
	objects := map[string]string{}
	for name, b := range files {
		objects[name] = objectOf(t, repoPath, c, name)
		flipByte(t, objects[name], int64(len(b)-1))
	}
	for round := range 2 {
		for name := range files {
			b, err := os.ReadFile(filepath.Join(mp, "commits", c, name))
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("round %d: read corrupted %s: %d bytes, %v; want EIO", round, name, len(b), err)
			}
		}
	}
	for name, p := range objects {
		if got := strings.Count(log.String(), p); got != 1 {
			t.Errorf("log names %s's object %d times, want once:\n%s", name, got, log.String())
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	testrepo.Commit(t, repoPath, "main", src, repotest.CommitOpts{}) // writes the missing objects again
	for name, want := range files {
		b, err := os.ReadFile(filepath.Join(mp, "commits", c, name))
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("repaired %s: %d bytes, %v; want the %d bytes committed", name, len(b), err, len(want))
		}
	}
}

// TestNoVerify: with NoVerify the mount serves what the disk holds,
// corrupted or not.
func TestNoVerify(t *testing.T) {
	repoPath, c, _, files := verifyFixture(t)
	_, mp := testMountWith(t, repoPath, MountOptions{NoVerify: true})
	for name, want := range files {
		flipByte(t, objectOf(t, repoPath, c, name), 0)
		b, err := os.ReadFile(filepath.Join(mp, "commits", c, name))
		if err != nil || len(b) != len(want) || b[0] != want[0]^0xff {
			t.Errorf("%s: %d bytes, %v; want the corrupted bytes", name, len(b), err)
		}
	}
}

// TestVerifierOnce: concurrent checks of one object run one verification
// and share its result; a failure is not remembered, a success is.
func TestVerifierOnce(t *testing.T) {
	v := newVerifier()
	c := repo.Checksum{1, 2, 3}
	var runs atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	errs := make(chan error, 4)
	go func() {
		errs <- v.check(c, func() error {
			runs.Add(1)
			close(started)
			<-release
			return repo.ErrCorrupt
		})
	}()
	<-started
	for range 3 {
		go func() { errs <- v.check(c, func() error { runs.Add(1); return nil }) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for v.waiting(c) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d checks wait for the running one, want 3", v.waiting(c))
		}
		runtime.Gosched()
	}
	close(release)
	for range 4 {
		if err := <-errs; !errors.Is(err, repo.ErrCorrupt) {
			t.Errorf("check: %v, want the shared ErrCorrupt", err)
		}
	}
	if runs.Load() != 1 {
		t.Errorf("%d verifications for 4 concurrent checks, want 1", runs.Load())
	}
	if err := v.check(c, func() error { return nil }); err != nil || !v.verified(c) {
		t.Fatalf("check after a failure: %v, verified %v; want a new check that passes", err, v.verified(c))
	}
	if err := v.check(c, func() error { t.Error("checked again after it passed"); return nil }); err != nil {
		t.Error(err)
	}
	if !v.firstFailure(c) || v.firstFailure(c) {
		t.Error("firstFailure: want true once, then false")
	}
	v.passed(c)
	if !v.firstFailure(c) {
		t.Error("firstFailure after a pass: want true again")
	}
}
