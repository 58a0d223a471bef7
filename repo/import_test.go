package repo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadingMappedTruncated: a mapped source object truncated while it
// is read faults on the pages past its new end; the import fails with
// ErrCorrupt instead of the process dying, and other panics go through.
func TestReadingMappedTruncated(t *testing.T) {
	p, m := mapFile(t, make([]byte, 4*os.Getpagesize()))
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	var sum byte
	err := readingMapped(true, func() error {
		for _, b := range m {
			sum += b
		}
		return nil
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading a truncated mapping: %v, want ErrCorrupt", err)
	}
	defer func() {
		if r := recover(); r != "other" {
			t.Fatalf("recovered %v, want the panic to go through", r)
		}
	}()
	readingMapped(true, func() error { panic("other") })
}

// TestDropDecoded: the pages of a mapped .filez behind its decoder (in
// proportion, less a margin) are dropped, page-aligned, never twice, and
// a page dropped is read again intact from the page cache.
func TestDropDecoded(t *testing.T) {
	page := os.Getpagesize()
	size := 1 << 20
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7)
	}
	_, m := mapFile(t, want)
	const header = 100
	n := size - header // the compressed payload
	for _, tc := range []struct {
		got, payload   uint64
		dropped, after int
	}{
		{got: 0, payload: 1 << 30, dropped: 0, after: 0},             // nothing decoded yet
		{got: 1 << 29, payload: 1 << 30, dropped: 0, after: 0},       // half, within the margin
		{got: 1 << 30, payload: 1 << 30, dropped: 0, after: -1},      // all: up to the margin
		{got: 1 << 30, payload: 1 << 30, dropped: size, after: size}, // dropped already
		{got: 1, payload: 0, dropped: 0, after: 0},                   // empty payload
	} {
		if tc.after < 0 {
			tc.after = (header + n - 4*importChunk) &^ (page - 1)
		}
		if got := dropDecoded(m, n, tc.got, tc.payload, tc.dropped); got != tc.after {
			t.Errorf("dropDecoded(got %d of %d, dropped %d) = %d, want %d", tc.got, tc.payload, tc.dropped, got, tc.after)
		}
	}
	if dropDecoded(nil, n, 1, 1, 0) != 0 {
		t.Error("dropDecoded of a .filez read, not mapped, dropped something")
	}
	if !bytes.Equal(m, want) {
		t.Error("the mapping reads back other bytes after its pages were dropped")
	}
}

// mapFile writes data to a file and maps it shared and read-only, as
// import maps a large .filez; both go when the test ends.
func mapFile(t *testing.T, data []byte) (path string, m []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "obj.filez")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err = unix.Mmap(int(f.Fd()), 0, len(data), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	return path, m
}
