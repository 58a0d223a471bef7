package tmpdir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// LockMode selects a shared (read) or exclusive (write) lock.
type LockMode int

const (
	// Shared is held by every writer that must not run concurrently with
	// an exclusive holder (transactions against prune).
	Shared LockMode = iota
	// Exclusive excludes every other holder.
	Exclusive
)

func (m LockMode) String() string {
	if m == Exclusive {
		return "exclusive"
	}
	return "shared"
}

// ErrWouldBlock reports that a lock is held by someone else.
var ErrWouldBlock = errors.New("lock is held by another process")

// TryLock takes a whole-file lock on f without waiting. It uses an
// open-file-description lock, so two descriptors of one process exclude each
// other just as two processes do, and falls back to flock(2) on kernels or
// file systems that answer EINVAL.
func TryLock(f *os.File, mode LockMode) error {
	typ := int16(unix.F_RDLCK)
	how := unix.LOCK_SH
	if mode == Exclusive {
		typ, how = unix.F_WRLCK, unix.LOCK_EX
	}
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: 0, Len: 0}
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	if errors.Is(err, unix.EINVAL) {
		err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EACCES), errors.Is(err, unix.EWOULDBLOCK):
		return fmt.Errorf("%s lock on %s: %w", mode, f.Name(), ErrWouldBlock)
	default:
		return fmt.Errorf("%s lock on %s: %w", mode, f.Name(), err)
	}
}

// Lock takes a lock on f, retrying until it is granted, timeout passes
// (then the error wraps ErrWouldBlock) or ctx is done. A negative timeout
// waits for ever.
func Lock(ctx context.Context, f *os.File, mode LockMode, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	delay := 5 * time.Millisecond
	for {
		err := TryLock(f, mode)
		if err == nil || !errors.Is(err, ErrWouldBlock) {
			return err
		}
		if timeout >= 0 && !time.Now().Before(deadline) {
			return fmt.Errorf("%w (waited %s)", err, timeout)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for %s lock on %s: %w", mode, f.Name(), ctx.Err())
		case <-t.C:
		}
		// Back off to ostree's once-a-second polling, so a long wait does not spin.
		if delay *= 2; delay > time.Second {
			delay = time.Second
		}
	}
}

// Unlock releases a lock taken by TryLock or Lock.
func Unlock(f *os.File) error {
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &unix.Flock_t{Type: unix.F_UNLCK})
	if errors.Is(err, unix.EINVAL) {
		err = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	}
	if err != nil {
		return fmt.Errorf("unlock %s: %w", f.Name(), err)
	}
	return nil
}
