package repo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenFilez returns the .filez objects ostree wrote in testdata, by
// checksum.
func goldenFilez(t *testing.T) map[Checksum][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("gvariant", "testdata", "*.filez"))
	out := map[Checksum][]byte{}
	for _, p := range files {
		c, err := ParseChecksum(strings.TrimSuffix(filepath.Base(p), ".filez"))
		if err != nil {
			t.Fatal(err)
		}
		out[c] = readFile(t, p)
	}
	if len(out) == 0 {
		t.Fatal("no golden .filez")
	}
	return out
}

// TestWriteArchiveStream stages downloaded .filez objects in every mode: an
// archive repository keeps ostree's bytes as they are; every mode reads the
// object back right.
func TestWriteArchiveStream(t *testing.T) {
	golden := goldenFilez(t)
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			r, err := Init(filepath.Join(t.TempDir(), "repo"), mode)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := r.Begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for c, b := range golden {
				if _, err := tx.WriteArchiveStream(bytes.NewReader(b), int64(len(b)), c); err != nil {
					if mode == ModeBareUserOnly && strings.Contains(err.Error(), "bare-user-only") {
						continue // xattrs or owners this mode cannot hold
					}
					t.Fatalf("%s: %v", c, err)
				}
			}
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			for c, b := range golden {
				has, err := r.HasObject(c, ObjFile)
				if err != nil || !has {
					continue
				}
				if mode == ModeArchive {
					h := c.String()
					got := readFile(t, filepath.Join(r.Path(), "objects", h[:2], h[2:]+".filez"))
					if !bytes.Equal(got, b) {
						t.Errorf("%s: stored bytes differ from the download", c)
					}
				}
				rep, err := r.Fsck(context.Background(), FsckOptions{})
				if err != nil || len(rep.Problems) > 0 {
					t.Errorf("fsck: %v %+v", err, rep)
				}
			}
		})
	}
}

// TestWriteArchiveStreamRejects: each way a download can be wrong fails
// with ErrCorrupt naming the object, and nothing reaches objects/.
func TestWriteArchiveStreamRejects(t *testing.T) {
	golden := goldenFilez(t)
	var c Checksum
	var good []byte
	for k, b := range golden {
		// The largest: one with a payload.
		if len(b) > len(good) {
			c, good = k, b
		}
	}
	var other Checksum
	for k := range golden {
		if k != c {
			other = k
			break
		}
	}
	for _, tc := range []struct {
		name string
		data []byte
		size int64 // 0: len(data)
		// archiveOnly: only an archive repository, which stores the
		// bytes, can tell (the object itself is fine)
		archiveOnly bool
	}{
		{name: "flipped payload byte", data: flip(good, len(good)-2)},
		{name: "flipped header byte", data: flip(good, 9)},
		{name: "trailing data", data: append(clone(good), 0)},
		{name: "truncated", data: good[:len(good)-1]},
		{name: "short read", data: good, size: int64(len(good)) + 10, archiveOnly: true},
		{name: "another object", data: golden[other]},
		{name: "empty", data: nil},
	} {
		for _, mode := range []Mode{ModeArchive, ModeBareUser} {
			if tc.archiveOnly && mode != ModeArchive {
				continue
			}
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				r, err := Init(filepath.Join(t.TempDir(), "repo"), mode)
				if err != nil {
					t.Fatal(err)
				}
				tx, err := r.Begin(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				size := tc.size
				if size == 0 {
					size = int64(len(tc.data))
				}
				_, err = tx.WriteArchiveStream(bytes.NewReader(tc.data), size, c)
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.String()) {
					t.Errorf("got %v, want ErrCorrupt naming %s", err, c)
				}
				if has, _ := tx.HasObject(c, ObjFile); has {
					t.Error("the bad object was staged")
				}
				if err := tx.Commit(context.Background()); err != nil {
					t.Fatal(err)
				}
				ents, _ := os.ReadDir(filepath.Join(r.Path(), "objects"))
				if len(ents) != 0 {
					t.Errorf("objects/ has %d entries", len(ents))
				}
			})
		}
	}
}

func flip(b []byte, i int) []byte {
	b = clone(b)
	b[i] ^= 0x20
	return b
}
