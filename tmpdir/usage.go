package tmpdir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Usage is how many bytes (as allocated on disk) the directories of every
// Kind under tmp hold: unfinished downloads and transactions, kept for the
// next pull to resume.
func Usage(tmp string) (int64, error) {
	ents, err := os.ReadDir(tmp)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	var total int64
	for _, e := range ents {
		if e.IsDir() && isKindDir(e.Name()) {
			total += duBytes(filepath.Join(tmp, e.Name()))
		}
	}
	return total, nil
}

// duBytes is what p's tree occupies on disk; entries that vanish meanwhile
// are skipped.
func duBytes(p string) int64 {
	var total int64
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				total += st.Blocks * 512
			}
		}
		return nil
	})
	return total
}

// Removed is what RemoveUnlocked removed.
type Removed struct {
	Dirs  int   // directories removed
	Bytes int64 // bytes they held on disk
	Busy  int   // directories left because their lock is held
}

// RemoveUnlocked removes every directory of every Kind under tmp, of any
// boot, whose lock nobody holds, with its lock file: the partial
// downloads and staged objects that a later pull would otherwise resume.
// A directory in use (locked) is never touched. Errors on single
// directories do not stop it; the first one is returned.
func RemoveUnlocked(ctx context.Context, tmp string) (Removed, error) {
	var res Removed
	ents, err := os.ReadDir(tmp)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return res, nil
		}
		return res, fmt.Errorf("clean %s: %w", tmp, err)
	}
	var first error
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		name := e.Name()
		if !e.IsDir() || !isKindDir(name) || strings.HasSuffix(name, LockSuffix) {
			continue
		}
		p := filepath.Join(tmp, name)
		lock, err := lockFor(p)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if lock == nil {
			res.Busy++
			continue
		}
		n := duBytes(p)
		d := &Dir{Path: p, Name: name, lock: lock}
		if err := d.Remove(); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		res.Dirs++
		res.Bytes += n
	}
	return res, first
}
