package repo

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStatFileBareUser checks the by-path stat of bare-user objects
// against the general path (OpenFile), and its errors on damaged objects.
func TestStatFileBareUser(t *testing.T) {
	r := initRepo(t, ModeBareUser)
	big := Xattr{Name: "user.big", Value: []byte(strings.Repeat("v", 1000))}
	small := Xattr{Name: "user.a", Value: []byte("1")}
	files := map[string]struct {
		fi      FileInfo
		payload string
	}{
		"plain":       {FileInfo{Mode: 0o100644, UID: 1000, GID: 100}, "hello\n"},
		"empty":       {FileInfo{Mode: 0o100755}, ""},
		"setuid":      {FileInfo{Mode: 0o104755}, "x"},
		"xattr":       {FileInfo{Mode: 0o100600, Xattrs: []Xattr{small}}, "y"},
		"large xattr": {FileInfo{Mode: 0o100644, Xattrs: []Xattr{big, small}}, "z"}, // more than the first buffer
		"symlink":     {FileInfo{Mode: 0o120777, Target: "../a/b"}, ""},
	}
	ctx := context.Background()
	tx, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]Checksum{}
	for name, f := range files {
		fi := f.fi
		fi.Size = uint64(len(f.payload))
		c, err := tx.WriteContent(&fi, strings.NewReader(f.payload), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sums[name] = c
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for name, c := range sums {
		got, err := r.StatFile(c)
		if err != nil {
			t.Fatalf("%s: StatFile: %v", name, err)
		}
		want, rc, err := r.OpenFile(c)
		if err != nil {
			t.Fatalf("%s: OpenFile: %v", name, err)
		}
		if rc != nil {
			rc.Close()
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: StatFile = %+v, OpenFile = %+v", name, got, want)
		}
	}

	damage := []struct {
		name string
		do   func(p string) error
		want error
		msg  string
	}{
		{"missing", os.Remove, ErrNotFound, ""},
		{"no ostreemeta", func(p string) error { return unix.Removexattr(p, "user.ostreemeta") }, ErrCorrupt, "missing user.ostreemeta"},
		{"bad ostreemeta", func(p string) error { return unix.Setxattr(p, "user.ostreemeta", []byte{1, 2, 3}, 0) }, ErrCorrupt, "user.ostreemeta"},
		{"directory", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o755)
		}, ErrCorrupt, "not a regular file"},
		{"host symlink", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink("/etc/passwd", p)
		}, ErrCorrupt, "not a regular file"},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			fi := FileInfo{Mode: 0o100644, Size: uint64(len(d.name))}
			tx, err := r.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c, err := tx.WriteContent(&fi, strings.NewReader(d.name), nil)
			if err == nil {
				err = tx.Commit(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := d.do(r.objectPath(c, ObjFile)); err != nil {
				t.Fatal(err)
			}
			_, err = r.StatFile(c)
			if !errors.Is(err, d.want) || !strings.Contains(err.Error(), c.String()) || !strings.Contains(err.Error(), d.msg) {
				t.Fatalf("StatFile = %v, want %v naming %s and saying %q", err, d.want, c, d.msg)
			}
		})
	}
}

// TestReadRawAt reads a bare-user payload at offsets, and refuses an
// object file whose size is not the payload's.
func TestReadRawAt(t *testing.T) {
	r := initRepo(t, ModeBareUser)
	ctx := context.Background()
	tx, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	payload := "0123456789"
	fi := &FileInfo{Mode: 0o100644, Size: uint64(len(payload))}
	c, err := tx.WriteContent(fi, strings.NewReader(payload), nil)
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off  int64
		n    int
		want string
	}{{0, 4, "0123"}, {6, 10, "6789"}, {10, 4, ""}, {20, 4, ""}} {
		buf := make([]byte, tc.n)
		k, err := r.ReadRawAt(c, fi, buf, tc.off)
		if err != nil || string(buf[:k]) != tc.want {
			t.Errorf("at %d: %q %v, want %q", tc.off, buf[:k], err, tc.want)
		}
	}
	if _, err := r.ReadRawAt(c, &FileInfo{Mode: 0o100644, Size: 99}, make([]byte, 4), 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("size mismatch: %v, want ErrCorrupt", err)
	}
	if _, err := r.ReadRawAt(Checksum{1}, fi, make([]byte, 4), 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing object: %v, want ErrNotFound", err)
	}
	if _, err := initRepo(t, ModeArchive).ReadRawAt(c, fi, make([]byte, 4), 0); !errors.Is(err, ErrNotRaw) {
		t.Errorf("archive: %v, want ErrNotRaw", err)
	}
}
