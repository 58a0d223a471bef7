package pull

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/repofs/repofs/repo"
	"golang.org/x/sys/unix"
)

// archiveObject stores payload as a file in a new archive repository and
// returns its checksum and .filez, as a remote would serve it.
func archiveObject(t *testing.T, payload []byte) (repo.Checksum, []byte) {
	t.Helper()
	r, err := repo.Init(filepath.Join(t.TempDir(), "src"), repo.ModeArchive)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := r.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tx.WriteContent(&repo.FileInfo{Mode: 0o100644, Size: uint64(len(payload))}, bytes.NewReader(payload), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	filez, err := os.ReadFile(r.ObjectPath(c, repo.ObjFile))
	if err != nil {
		t.Fatal(err)
	}
	return c, filez
}

// TestStageFile: a download in its partial file is staged read whole, or
// mapped when larger than maxWholeFile, or, when the pull holds its budget
// of memory already, streamed; either way it is verified, and a partial file shorter
// than the download was, or with bad bytes, is corrupt.
func TestStageFile(t *testing.T) {
	payload := bytes.Repeat([]byte("repofs pulls objects\n"), 50000)
	c, filez := archiveObject(t, payload)
	big := make([]byte, maxWholeFile+1000)
	rand.NewChaCha8([32]byte{1}).Read(big) // incompressible: its .filez is as large
	bigC, bigFilez := archiveObject(t, big)
	for _, tc := range []struct {
		name    string
		held    int64 // what the pull holds already
		c       repo.Checksum
		data    []byte
		size    int64
		corrupt bool
	}{
		{name: "whole", data: filez, size: int64(len(filez))},
		{name: "larger than maxWholeFile, mapped", c: bigC, data: bigFilez, size: int64(len(bigFilez))},
		{name: "larger than maxWholeFile, mapped while reads hold the budget", held: maxWholeHeld, c: bigC, data: bigFilez, size: int64(len(bigFilez))},
		{name: "mapped, short file", c: bigC, data: bigFilez[:len(bigFilez)-10], size: int64(len(bigFilez)), corrupt: true},
		{name: "mapped, bad byte", c: bigC, data: flipByte(bigFilez, len(bigFilez)/2), size: int64(len(bigFilez)), corrupt: true},
		{name: "streamed", held: maxWholeHeld, data: filez, size: int64(len(filez))},
		{name: "short file", data: filez[:len(filez)-10], size: int64(len(filez)), corrupt: true},
		{name: "bad byte", data: flipByte(filez, len(filez)/2), size: int64(len(filez)), corrupt: true},
		{name: "bad byte, streamed", held: maxWholeHeld, data: flipByte(filez, len(filez)/2), size: int64(len(filez)), corrupt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, tx, fh := stageSetup(t, tc.data)
			p := &puller{tx: tx}
			p.wholeHeld.Store(tc.held)
			c, want := c, payload
			if tc.c != (repo.Checksum{}) {
				c, want = tc.c, big
			}
			fi, err := p.stageFile(c, fh, tc.size)
			if got := p.wholeHeld.Load(); got != tc.held {
				t.Errorf("the pull holds %d bytes after, %d before", got, tc.held)
			}
			if tc.corrupt {
				if !errors.Is(err, repo.ErrCorrupt) {
					t.Fatalf("got %v, want ErrCorrupt", err)
				}
				// Nothing of it is staged: committing publishes no object.
				if err := tx.Commit(context.Background()); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(r.ObjectPath(c, repo.ObjFile)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("corrupt object in objects/: stat says %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size != uint64(len(want)) {
				t.Errorf("size %d, want %d", fi.Size, len(want))
			}
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(r.ObjectPath(c, repo.ObjFile))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("staged object: %d bytes, %v", len(got), err)
			}
		})
	}
}

// stageSetup returns a new bare-user repository, a transaction on it
// and a partial download holding data, each closed at the test's end.
func stageSetup(t *testing.T, data []byte) (*repo.Repo, *repo.Transaction, *os.File) {
	t.Helper()
	r, err := repo.Init(filepath.Join(t.TempDir(), "client"), repo.ModeBareUser)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := r.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Abort() })
	partial := filepath.Join(t.TempDir(), "partial")
	if err := os.WriteFile(partial, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(partial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	return r, tx, fh
}

func flipByte(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x20
	return b
}

// TestStageFileWaitsForMapped: a partial download to map waits while
// others hold the budget for mapped files, and is staged once they
// release it.
func TestStageFileWaitsForMapped(t *testing.T) {
	big := make([]byte, maxWholeFile+1000)
	rand.NewChaCha8([32]byte{2}).Read(big)
	c, filez := archiveObject(t, big)
	r, tx, fh := stageSetup(t, filez)
	p := &puller{tx: tx}
	p.mapped.acquire(maxMappedHeld, maxMappedHeld)
	done := make(chan error, 1)
	go func() {
		_, err := p.stageFile(c, fh, int64(len(filez)))
		done <- err
	}()
	for !p.mapped.waiting() {
		select {
		case err := <-done:
			t.Fatalf("staged while the budget was spent (%v)", err)
		default:
			runtime.Gosched()
		}
	}
	p.mapped.release(maxMappedHeld)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := p.mapped.load(); n != 0 {
		t.Errorf("%d bytes still held", n)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(r.ObjectPath(c, repo.ObjFile))
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("staged object: %d bytes, %v", len(got), err)
	}
}

// waiting reports whether an acquire waits.
func (b *budget) waiting() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wake != nil
}

// TestReadMappedFault: a mapped download shortened under its mapping
// fails the read with errMappedFault, where it would kill the process.
func TestReadMappedFault(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "partial"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := os.Getpagesize()
	if _, err := f.Write(bytes.Repeat([]byte{7}, 2*page)); err != nil {
		t.Fatal(err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, 2*page, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(data)
	var sum int
	read := func() error {
		for _, b := range data {
			sum += int(b)
		}
		return nil
	}
	if err := readMapped(data, read); err != nil || sum != 7*2*page {
		t.Fatalf("whole file: err %v, sum %d", err, sum)
	}
	if err := f.Truncate(int64(page)); err != nil {
		t.Fatal(err)
	}
	err = readMapped(data, read)
	if !errors.Is(err, errMappedFault) {
		t.Fatalf("read past the shortened end: err %v, want errMappedFault", err)
	}
	// Another panic is not taken for a fault.
	defer func() {
		if r := recover(); r != "other" {
			t.Fatalf("recovered %v, want the panic to go on", r)
		}
	}()
	readMapped(data, func() error { panic("other") })
}
