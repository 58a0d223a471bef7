package tmpdir

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// LockSuffix is appended to a directory's name to form its lock file.
const LockSuffix = "-lock"

// maxAttempts bounds the fresh-name loop; each collision needs another
// process to have created the same six random characters.
const maxAttempts = 128

// Dir is a directory under tmp/ that this process holds exclusively until
// Release or Remove.
type Dir struct {
	// Path is the directory's full path, Name its base name.
	Path, Name string
	// Reused is true when the directory was left by an earlier process and
	// may hold its partial work; callers must re-verify what they find.
	Reused bool

	lock  *os.File
	fresh chan struct{} // closed to stop keepFresh
	gone  chan struct{} // closed when keepFresh has returned
}

// refreshEvery is how often a held directory and its lock file get a new
// mtime. ostree's cleanup removes every non-staging entry of tmp/ (and
// every lock file) older than tmp-expiry-secs, a day by default, without
// looking at locks: a fetcher directory held longer than that by a
// day-long pull, or a staging lock, would be removed under its holder.
// libostree's allocate_tmpdir bumps the mtime of a directory it reuses for
// the same reason; a directory held for long is kept fresh the same way.
var refreshEvery = time.Hour

// held starts keeping d fresh and returns it.
func held(d *Dir) *Dir {
	d.fresh, d.gone = make(chan struct{}), make(chan struct{})
	go d.keepFresh(refreshEvery)
	return d
}

func (d *Dir) keepFresh(every time.Duration) {
	defer close(d.gone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.fresh:
			return
		case <-t.C:
			now := time.Now()
			os.Chtimes(d.Path, now, now)
			os.Chtimes(d.Path+LockSuffix, now, now)
		}
	}
}

// Allocate returns a locked directory of kind k under tmp, for boot bootID.
// An existing, unlocked directory of that kind and boot is reused first
// (its mtime bumped so expiry does not take it), unless k is Pending;
// otherwise a new "<kind>-<boot id>-XXXXXX" is created with mode 0775.
// tmp must exist.
// Until Release or Remove, the directory and its lock file get a fresh
// mtime every hour, so that no expiry by age (ostree's) takes them.
func Allocate(ctx context.Context, tmp string, k Kind, bootID string) (*Dir, error) {
	prefix, err := k.prefix(bootID)
	if err != nil {
		return nil, fmt.Errorf("allocate %s directory in %s: %w", k, tmp, err)
	}
	if k != Pending {
		if d, err := reuse(ctx, tmp, prefix); d != nil || err != nil {
			return d, err
		}
	}
	for range maxAttempts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := prefix + randomSuffix()
		p := filepath.Join(tmp, name)
		if err := os.Mkdir(p, 0o775); err != nil {
			if errors.Is(err, os.ErrExist) {
				continue
			}
			return nil, fmt.Errorf("allocate %s: %w", p, err)
		}
		afterMkdir(p)
		lock, err := lockFor(p)
		if err != nil {
			return nil, err
		}
		if lock == nil {
			// Someone found the fresh directory between mkdir and lock
			// and is reusing it; it is theirs now.
			continue
		}
		// Between mkdir and lock, someone may also have reused it and be
		// done with it already: removed it (a committed transaction), or
		// left work in it (an aborted one), which is evidence to verify.
		df, err := openLocked(p, lock)
		if err != nil {
			return nil, fmt.Errorf("allocate %s: %w", p, err)
		}
		if df == nil {
			continue
		}
		names, err := df.Readdirnames(1)
		df.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			dropLock(lock)
			return nil, fmt.Errorf("allocate %s: %w", p, err)
		}
		return held(&Dir{Path: p, Name: name, Reused: len(names) > 0, lock: lock}), nil
	}
	return nil, fmt.Errorf("allocate %s* in %s: no free name after %d attempts", prefix, tmp, maxAttempts)
}

// reuse returns an unlocked directory under tmp named with prefix,
// locked, or nil if there is none.
func reuse(ctx context.Context, tmp, prefix string) (*Dir, error) {
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("allocate %s* in %s: %w", prefix, tmp, err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, prefix) {
			continue
		}
		if d, err := tryReuse(tmp, name); d != nil || err != nil {
			return d, err
		}
	}
	return nil, nil
}

// Claim locks every directory of kind k under tmp, of any boot, that
// nobody holds, and returns them (each with its mtime bumped, as a reused
// one): the caller releases or removes each. A directory another process
// holds, or that vanishes meanwhile, is skipped; so is one that cannot be
// claimed (another user's, say), whose error is returned with the others.
func Claim(ctx context.Context, tmp string, k Kind) ([]*Dir, error) {
	ents, err := os.ReadDir(tmp)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim %s directories in %s: %w", k, tmp, err)
	}
	var (
		ds   []*Dir
		errs []error
	)
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, string(k)+"-") || bootOf(name) == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			releaseAll(ds)
			return nil, err
		}
		d, err := tryReuse(tmp, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d != nil {
			ds = append(ds, d)
		}
	}
	return ds, errors.Join(errs...)
}

func releaseAll(ds []*Dir) {
	for _, d := range ds {
		d.Release()
	}
}

// Boot is the boot ID the directory's name carries.
func (d *Dir) Boot() string { return bootOf(d.Name) }

// afterMkdir is called between the mkdir and the lock of a fresh
// directory. A test seam: the window another process may reuse it in.
var afterMkdir = func(string) {}

// openLocked opens directory p, whose lock the caller has just taken. When
// p is gone or is not a directory (its last holder removed it meanwhile),
// it drops the lock and returns nil, nil.
func openLocked(p string, lock *os.File) (*os.File, error) {
	df, err := os.OpenFile(p, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err == nil {
		return df, nil
	}
	dropLock(lock)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return nil, nil
	}
	return nil, err
}

// dropLock gives up a lock taken for a directory that is not used after
// all: unlinked first, as Release does.
func dropLock(lock *os.File) {
	os.Remove(lock.Name())
	lock.Close()
}

// tryReuse locks an existing directory, or returns nil when someone else
// holds it or it vanished.
func tryReuse(tmp, name string) (*Dir, error) {
	p := filepath.Join(tmp, name)
	lock, err := lockFor(p)
	if err != nil || lock == nil {
		return nil, err
	}
	// The holder may have removed the directory and unlinked its lock just
	// before we created a new lock file.
	df, err := openLocked(p, lock)
	if err != nil {
		return nil, fmt.Errorf("reuse %s: %w", p, err)
	}
	if df == nil {
		return nil, nil
	}
	err = unix.Futimes(int(df.Fd()), nil)
	df.Close()
	if err != nil {
		dropLock(lock)
		return nil, fmt.Errorf("reuse %s: bump mtime: %w", p, err)
	}
	return held(&Dir{Path: p, Name: name, Reused: true, lock: lock}), nil
}

// lockFor takes the exclusive lock of directory p. It returns nil, nil when
// someone else holds it.
func lockFor(p string) (*os.File, error) {
	lp := p + LockSuffix
	for range maxAttempts {
		fd, err := unix.Open(lp, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open lock %s: %w", lp, err)
		}
		f := os.NewFile(uintptr(fd), lp)
		if err := TryLock(f, Exclusive); err != nil {
			f.Close()
			if errors.Is(err, ErrWouldBlock) {
				return nil, nil
			}
			return nil, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			f.Close()
			return nil, fmt.Errorf("stat lock %s: %w", lp, err)
		}
		if st.Nlink > 0 {
			return f, nil
		}
		// The previous holder unlinked the file between our open and our
		// lock: the lock we hold protects nothing. Start over.
		f.Close()
	}
	return nil, fmt.Errorf("lock %s: it keeps being unlinked under us", lp)
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b[:])
}

// Release gives the directory up, leaving its contents for a later Allocate
// to reuse. The lock file is unlinked before it is closed, so nobody can
// lock a file that is about to disappear without noticing (see lockFor).
func (d *Dir) Release() error {
	if d == nil || d.lock == nil {
		return nil
	}
	if d.fresh != nil {
		close(d.fresh)
		<-d.gone
		d.fresh = nil
	}
	err := os.Remove(d.lock.Name())
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if cerr := d.lock.Close(); err == nil {
		err = cerr
	}
	d.lock = nil
	if err != nil {
		return fmt.Errorf("release %s: %w", d.Path, err)
	}
	return nil
}

// Remove deletes the directory and its contents, then releases it.
func (d *Dir) Remove() error {
	if d == nil || d.lock == nil {
		return fmt.Errorf("remove tmp dir: not held")
	}
	err := os.RemoveAll(d.Path)
	if err != nil {
		err = fmt.Errorf("remove %s: %w", d.Path, err)
	}
	if rerr := d.Release(); err == nil {
		err = rerr
	}
	return err
}
