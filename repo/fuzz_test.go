package repo

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func goldenSeeds(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("gvariant", "testdata", pattern))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0})
	f.Add([]byte("..\x00"))
}

func FuzzDecodeDirTree(f *testing.F) {
	goldenSeeds(f, "*.dirtree")
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := decodeDirTree(sha256.Sum256(b), b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		for _, f := range tr.Files {
			if ValidateFilename(f.Name) != "" {
				t.Fatalf("accepted file name %q", f.Name)
			}
		}
		for _, d := range tr.Dirs {
			if ValidateFilename(d.Name) != "" {
				t.Fatalf("accepted dir name %q", d.Name)
			}
		}
	})
}

func FuzzDecodeCommit(f *testing.F) {
	goldenSeeds(f, "*.commit")
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := decodeCommit(sha256.Sum256(b), b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("[core]\nrepo_version=1\nmode=archive-z2\n"))
	f.Add([]byte("[remote \"origin\"]\nurl=http://x\nbranches=a;b;\n# c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		// What was parsed survives a rewrite.
		c2, err := ParseConfig(c.Bytes())
		if err != nil || len(c2.Groups) != len(c.Groups) {
			t.Fatalf("rewrite of %q: %v", b, err)
		}
	})
}

// FuzzArchiveObject feeds arbitrary bytes as a .filez object: reading it
// must fail with ErrCorrupt or yield bytes that hash to the object's name.
func FuzzArchiveObject(f *testing.F) {
	goldenSeeds(f, "*.filez")
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "objects", "2b"), 0o755)
		os.WriteFile(filepath.Join(dir, "config"), []byte("[core]\nrepo_version=1\nmode=archive-z2\n"), 0o644)
		r, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := ParseChecksum("2bef17425952e3cd138bf438b217479b4817b9fde55da0045cc5d275973690f4")
		os.WriteFile(r.objectPath(c, ObjFile), b, 0o644)
		_, rc, err := r.OpenFile(c)
		if err == nil {
			_, err = io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
			rc.Close()
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}

// FuzzDecodeArchiveStream feeds downloaded .filez bytes (what a remote
// serves) to the stream decoder: errors wrap ErrCorrupt, nothing panics, and
// the payload reader stops at the header's size.
func FuzzDecodeArchiveStream(f *testing.F) {
	goldenSeeds(f, "*.filez")
	f.Fuzz(func(t *testing.T, b []byte) {
		fi, body, err := decodeArchiveStream(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if body == nil {
			if !fi.IsSymlink() {
				t.Fatal("no payload reader for a regular file")
			}
			return
		}
		io.Copy(io.Discard, io.LimitReader(body, 1<<20))
		body.release()
	})
}
