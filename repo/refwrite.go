package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/repofs/repofs/tmpdir"
)

func randomInt() uint32 { return rand.Uint32() }

// writeRef points a ref at c atomically (temporary file, fdatasync,
// rename, fsync of the directory).
func (r *Repo) writeRef(remote, name string, c Checksum, sync bool) error {
	p := filepath.Join(r.refsDir(remote), filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("write ref %s: Conflict: a ref exists under %s: %w", Ref{remote, name, c}, pe.Path, err)
		}
		return fmt.Errorf("write ref %s: %w", Ref{remote, name, c}, err)
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return fmt.Errorf("write ref %s: Conflict: refs exist under %s", Ref{remote, name, c}, name)
	}
	if err := WriteFileAtomic(p, []byte(c.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("write ref %s: %w", Ref{remote, name, c}, err)
	}
	return nil
}

// deleteRef removes a ref; its (possibly empty) directories stay, as in
// ostree.
func (r *Repo) deleteRef(remote, name string) error {
	p := filepath.Join(r.refsDir(remote), filepath.FromSlash(name))
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete ref %s: %w", Ref{remote, name, Checksum{}}, err)
	}
	return fsyncDir(filepath.Dir(p))
}

// SetRefImmediate points a ref at c now, outside any transaction, as
// `ostree refs --create` does. The commit must be present.
func (r *Repo) SetRefImmediate(ctx context.Context, remote, name string, c Checksum) error {
	if err := ValidateRef(name); err != nil {
		return err
	}
	if ok, err := r.HasObject(c, ObjCommit); err != nil || !ok {
		if err == nil {
			err = missing(c, ObjCommit)
		}
		return fmt.Errorf("set ref %s: %w", Ref{remote, name, c}, err)
	}
	lock, err := r.lockRepo(ctx, tmpdir.Shared)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := r.writeRef(remote, name, c, true); err != nil {
		return err
	}
	r.touch()
	return nil
}

// DeleteRefImmediate deletes a ref now.
func (r *Repo) DeleteRefImmediate(ctx context.Context, remote, name string) error {
	lock, err := r.lockRepo(ctx, tmpdir.Shared)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := r.deleteRef(remote, name); err != nil {
		return err
	}
	r.touch()
	return nil
}

// touch bumps the repository directory's mtime, which readers (the mount)
// watch to notice that refs changed.
func (r *Repo) touch() {
	now := time.Now()
	os.Chtimes(r.path, now, now)
}
