package repo

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo/gvariant"
)

// Xattr is one extended attribute of a file or directory, with its name as
// the kernel spells it (OSTree stores it with a terminating NUL, which repo
// adds and strips at the codec's edge).
type Xattr struct {
	Name  string
	Value []byte
}

// xattrsFromGV converts stored xattrs, or says what is wrong with a name
// (see checkXattrs).
func xattrsFromGV(xs []gvariant.Xattr) ([]Xattr, string) {
	if bad := checkXattrs(xs); bad != "" || len(xs) == 0 {
		return nil, bad
	}
	out := make([]Xattr, len(xs))
	for i, x := range xs {
		out[i] = Xattr{Name: string(x.Name[:len(x.Name)-1]), Value: x.Value}
	}
	return out, ""
}

// xattrsToGV converts xattrs to what OSTree stores, names NUL-terminated,
// in the same order: the order is part of the checksum.
func xattrsToGV(xs []Xattr) []gvariant.Xattr {
	if len(xs) == 0 {
		return nil
	}
	out := make([]gvariant.Xattr, len(xs))
	for i, x := range xs {
		out[i] = gvariant.Xattr{Name: append([]byte(x.Name), 0), Value: x.Value}
	}
	return out
}

// checkXattrs requires NUL-terminated, non-empty names without inner NULs,
// in stored xattrs. Order is not checked: ostree before 2024.10 stored them
// unsorted.
func checkXattrs(xs []gvariant.Xattr) string {
	for _, x := range xs {
		n := x.Name
		if len(n) < 2 || n[len(n)-1] != 0 || strings.IndexByte(string(n[:len(n)-1]), 0) >= 0 {
			return "invalid xattr name " + quote(strings.TrimRight(string(n), "\x00"))
		}
	}
	return ""
}

// checkXattrNames applies checkXattrs's rule to xattrs given by name.
func checkXattrNames(xs []Xattr) string {
	for _, x := range xs {
		if x.Name == "" || strings.IndexByte(x.Name, 0) >= 0 {
			return "invalid xattr name " + quote(strings.TrimRight(x.Name, "\x00"))
		}
	}
	return ""
}

// XattrsText formats xattrs as ostree ls -X prints them, a GVariant
// a(ayay) in text form.
func XattrsText(xs []Xattr) string {
	return gvariant.Print(gvariant.XattrsValue(xattrsToGV(xs)), true)
}

// listXattrs returns a file's extended attributes sorted by name.
func listXattrs(p string) ([]Xattr, error) {
	names, err := getXattr(func(buf []byte) (int, error) { return unix.Llistxattr(p, buf) })
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	var xs []Xattr
	for _, n := range bytes.Split(names, []byte{0}) {
		if len(n) == 0 {
			continue
		}
		name := string(n)
		v, err := getXattr(func(buf []byte) (int, error) { return unix.Lgetxattr(p, name, buf) })
		if err != nil {
			return nil, fmt.Errorf("read xattr %s of %s: %w", name, p, err)
		}
		xs = append(xs, Xattr{Name: name, Value: v})
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].Name < xs[j].Name })
	return xs, nil
}

// getXattr calls a size-probing xattr syscall until the buffer fits.
func getXattr(call func([]byte) (int, error)) ([]byte, error) {
	for range 5 {
		n, err := call(nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		buf := make([]byte, n)
		n, err = call(buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew meanwhile
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, unix.ERANGE
}
