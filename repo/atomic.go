package repo

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// WriteFileAtomic replaces path with data: a temporary file in the same
// directory, fdatasync, rename, then fsync of the directory, so that after
// a crash path holds either its old or its new content, never a torn one.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	// A leading dot keeps debris from a crash out of ref listings.
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = fdatasync(f); err != nil {
		return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return fsyncDir(dir)
}

// fdatasync flushes f's data, and its metadata only where reading the data
// back needs it.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// fsyncDir makes the entries of dir durable.
func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
