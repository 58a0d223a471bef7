package repo

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
)

func tarOf(t testing.TB, hs ...tar.Header) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hs {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(bytes.Repeat([]byte("x"), int(h.Size))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWriteTarErrors(t *testing.T) {
	root := tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}
	cases := []struct {
		name string
		data []byte
		want error // nil: any error
	}{
		{"fifo", tarOf(t, root, tar.Header{Name: "p", Typeflag: tar.TypeFifo}), ErrUnsupportedTarEntry},
		{"no parent", tarOf(t, root, tar.Header{Name: "a/b", Typeflag: tar.TypeReg}), ErrNotFound},
		{"uplink", tarOf(t, root, tar.Header{Name: "a/../b", Typeflag: tar.TypeReg}), nil},
		{"dangling hardlink", tarOf(t, root, tar.Header{Name: "l", Typeflag: tar.TypeLink, Linkname: "nope"}), ErrNotFound},
		{"file over dir", tarOf(t, root, tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}, tar.Header{Name: "d", Typeflag: tar.TypeReg}), nil},
		{"truncated", tarOf(t, root, tar.Header{Name: "f", Typeflag: tar.TypeReg, Size: 1000})[:1024], nil},
	}
	r, err := Init(filepath.Join(t.TempDir(), "repo"), ModeArchive)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx, err := r.Begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Abort()
			err = tx.WriteTar(context.Background(), bytes.NewReader(c.data), NewMutableTree(), DirOptions{}, TarOptions{})
			if err == nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
}

func FuzzPaxRecords(f *testing.F) {
	f.Add(tarOf(f, tar.Header{Name: "f", Typeflag: tar.TypeReg, Format: tar.FormatPAX,
		PAXRecords: map[string]string{"SCHILY.xattr.user.a": "1", "LIBARCHIVE.xattr.user.b": "Mg"}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) { paxRecords(b) })
}

// FuzzWriteTar: any archive is imported or refused, without a panic, and
// what is imported can be written out or is refused as such.
func FuzzWriteTar(f *testing.F) {
	f.Add(tarOf(f, tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "d/f", Typeflag: tar.TypeReg, Size: 3, Format: tar.FormatPAX, PAXRecords: map[string]string{"SCHILY.xattr.user.a": "1"}},
		tar.Header{Name: "l", Typeflag: tar.TypeLink, Linkname: "d/f"},
		tar.Header{Name: "s", Typeflag: tar.TypeSymlink, Linkname: "d"}))
	r, err := Init(filepath.Join(f.TempDir(), "repo"), ModeArchive)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := r.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Abort()
		mt := NewMutableTree()
		if tx.WriteTar(context.Background(), bytes.NewReader(b), mt, DirOptions{}, TarOptions{AutocreateParents: true}) == nil {
			if _, _, err := tx.WriteMutableTree(mt); err != nil && !mt.HasMeta() {
				t.Fatalf("autocreated tree without a root: %v", err)
			}
		}
	})
}
