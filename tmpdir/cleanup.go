package tmpdir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CacheDir is the one entry of tmp/ that Cleanup never touches: the
// remotes' summaries are cached there, as ostree caches them.
const CacheDir = "cache"

// Cleanup expires abandoned entries of tmp, with libostree's rules: it
// skips cache/ and every directory whose lock is held; it removes unlocked
// directories of every Kind of other boots (those of bootID are kept
// for reuse); and it removes any other entry older than expiry (none with
// an mtime in the future). Errors on single entries do not stop the sweep;
// the first one is returned.
func Cleanup(ctx context.Context, tmp, bootID string, expiry time.Duration) error {
	ents, err := os.ReadDir(tmp)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("clean %s: %w", tmp, err)
	}
	names := make(map[string]bool, len(ents))
	for _, e := range ents {
		names[e.Name()] = true
	}
	now := time.Now()
	var first error
	note := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := e.Name()
		p := filepath.Join(tmp, name)
		switch {
		case name == CacheDir:
			continue
		case strings.HasSuffix(name, LockSuffix) && names[strings.TrimSuffix(name, LockSuffix)]:
			// Handled together with its directory.
			continue
		}
		if e.IsDir() && isKindDir(name) {
			if boot := bootOf(name); boot == bootID {
				continue
			}
			note(removeIfUnlocked(p))
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // vanished
		}
		if info.ModTime().After(now) || now.Sub(info.ModTime()) < expiry {
			continue
		}
		if e.IsDir() && names[name+LockSuffix] {
			note(removeIfUnlocked(p))
			continue
		}
		if strings.HasSuffix(name, LockSuffix) {
			// An orphan lock file; someone may be about to use it.
			note(removeIfUnlocked(strings.TrimSuffix(p, LockSuffix)))
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			note(fmt.Errorf("clean %s: %w", p, err))
		}
	}
	return first
}

// removeIfUnlocked removes directory p (which may not exist) and its lock
// file unless another process holds the lock.
func removeIfUnlocked(p string) error {
	lock, err := lockFor(p)
	if err != nil || lock == nil {
		return err
	}
	d := &Dir{Path: p, Name: filepath.Base(p), lock: lock}
	return d.Remove()
}
