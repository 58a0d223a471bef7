package repo

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls of a checkout's writes go raw: they work in the page
// cache and seldom wait for a device, and a raw call keeps its P.
// Through the runtime's syscall path, each call longer than sysmon's
// tick (inode allocation on ext4 often is) had its P handed to another
// thread, which a checkout paid in futex wakeups and thread switches.
// Reads of objects, which may wait for the disk, stay on that path.

// rawErr is e as an error, nil for none.
func rawErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// rawWrite is write(2).
func rawWrite(fd int, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(p), uintptr(len(b)))
	return int(n), rawErr(e)
}

// rawOpenat is openat(2).
func rawOpenat(dirfd int, path string, flags int, mode uint32) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags|unix.O_LARGEFILE), uintptr(mode), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// rawFchmod is fchmod(2).
func rawFchmod(fd int, mode uint32) error {
	_, _, e := unix.RawSyscall(unix.SYS_FCHMOD, uintptr(fd), uintptr(mode), 0)
	return rawErr(e)
}

// rawClose is close(2).
func rawClose(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return rawErr(e)
}

// openCheckoutTmpfile opens an unnamed file of mode (less the umask) in
// dirfd. Tests swap it to play a filesystem without O_TMPFILE.
var openCheckoutTmpfile = func(dirfd int, mode uint32) (int, error) {
	return rawOpenat(dirfd, ".", unix.O_WRONLY|unix.O_TMPFILE|unix.O_CLOEXEC, mode)
}

// processUmask is the process's umask, read without changing it (umask(2)
// can only set it, a race with any file created meanwhile); all bits if
// it cannot be read, so that every mode is set by fchmod.
var processUmask = sync.OnceValue(func() uint32 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o777
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				return 0o777
			}
			return uint32(m)
		}
	}
	return 0o777
})
