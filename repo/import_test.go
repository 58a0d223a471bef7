package repo

import (
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
	p := filepath.Join(t.TempDir(), "obj.filez")
	size := 4 * os.Getpagesize()
	if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	var sum byte
	err = readingMapped(true, func() error {
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
