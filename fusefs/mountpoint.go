package fusefs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// mountinfoPath is the kernel's list of this process's mounts. Overridden
// by tests.
var mountinfoPath = "/proc/self/mountinfo"

// checkMountpoint refuses, with what to do instead, a mountpoint that
// cannot work or would hide something: the dead FUSE mount a killed
// process leaves behind, a directory something is already mounted on (a
// second mount would silently stack over it), and, unless nonEmpty, a
// directory with files in it.
func checkMountpoint(mp string, nonEmpty bool) error {
	st, err := os.Stat(mp)
	if err == nil {
		// stat may answer from the kernel's attribute cache; statfs always
		// asks the file system, so a dead FUSE mount shows here.
		var sfs unix.Statfs_t
		err = unix.Statfs(mp, &sfs)
	}
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return fmt.Errorf("mountpoint %s is a dead FUSE mount left by a process that was killed (transport endpoint is not connected); clear it with 'umount -l %s' (or 'fusermount3 -uz %s') and try again", mp, mp, mp)
	case err != nil:
		return fmt.Errorf("mountpoint %s: %w", mp, err)
	case !st.IsDir():
		return fmt.Errorf("mountpoint %s is not a directory", mp)
	}
	m, err := mountedOn(mp)
	if err != nil {
		return fmt.Errorf("mountpoint %s: %w", mp, err)
	}
	if m != nil {
		return fmt.Errorf("mountpoint %s is already a mount (%s, %s); a second mount would hide it: unmount it first ('umount %s') or choose another directory", mp, m.fstype, m.source, mp)
	}
	if nonEmpty {
		return nil
	}
	names, err := someEntries(mp)
	switch {
	case err != nil:
		return fmt.Errorf("mountpoint %s: %w", mp, err)
	case len(names) == 1:
		return fmt.Errorf("mountpoint %s is not empty (it holds %s); the mount would hide it: choose an empty directory, or pass --nonempty to mount over it", mp, names[0])
	case len(names) > 1:
		return fmt.Errorf("mountpoint %s is not empty (it holds %s and more); the mount would hide its files: choose an empty directory, or pass --nonempty to mount over them", mp, names[0])
	}
	return nil
}

// someEntries returns the names of up to two entries of directory dir.
func someEntries(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(2)
	if err == io.EOF {
		return nil, nil
	}
	return names, err
}

// mountEntry is one line of mountinfo, the parts a message names.
type mountEntry struct {
	mountpoint, fstype, source string
}

// mountedOn returns the topmost mount whose mountpoint is directory dir
// (symlinks resolved, as the kernel records it), or nil.
func mountedOn(dir string) (*mountEntry, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, err
	}
	f, err := os.Open(mountinfoPath)
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	defer f.Close()
	var found *mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if e, ok := parseMountinfo(sc.Text()); ok && e.mountpoint == abs {
			found = &e // later lines are mounted over earlier ones
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	return found, nil
}

// parseMountinfo parses a line of /proc/PID/mountinfo (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// the mountpoint is the fifth field; after the optional fields and the
// "-" separator come the file system type and the source. Fields escape
// space, tab, newline and backslash as \ooo.
func parseMountinfo(line string) (mountEntry, bool) {
	f := strings.Fields(line)
	if len(f) < 7 {
		return mountEntry{}, false
	}
	for i := 6; i+2 < len(f); i++ {
		if f[i] == "-" {
			return mountEntry{mountpoint: unescapeMountinfo(f[4]), fstype: unescapeMountinfo(f[i+1]), source: unescapeMountinfo(f[i+2])}, true
		}
	}
	return mountEntry{}, false
}

// unescapeMountinfo undoes the kernel's \ooo escapes of a mountinfo field.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
