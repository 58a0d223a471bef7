package pull

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/repo"
)

// archiveObject stores payload as a file in a new archive repository and
// returns its checksum and .filez, as a remote would serve it.
func archiveObject(t *testing.T, payload []byte) (repo.Checksum, []byte) {
	t.Helper()
	r, err := repo.Init(filepath.Join(t.TempDir(), "src"), repo.ModeArchive)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := r.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tx.WriteContent(&repo.FileInfo{Mode: 0o100644, Size: uint64(len(payload))}, bytes.NewReader(payload), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	filez, err := os.ReadFile(r.ObjectPath(c, repo.ObjFile))
	if err != nil {
		t.Fatal(err)
	}
	return c, filez
}

// TestStageFile: a download in its partial file is staged read whole, or,
// when the pull holds its budget of memory already, streamed; either way
// it is verified, and a partial file shorter than the download was, or
// with bad bytes, is corrupt.
func TestStageFile(t *testing.T) {
	payload := bytes.Repeat([]byte("repofs pulls objects\n"), 50000)
	c, filez := archiveObject(t, payload)
	for _, tc := range []struct {
		name    string
		held    int64 // what the pull holds already
		data    []byte
		size    int64
		corrupt bool
	}{
		{name: "whole", data: filez, size: int64(len(filez))},
		{name: "streamed", held: maxWholeHeld, data: filez, size: int64(len(filez))},
		{name: "short file", data: filez[:len(filez)-10], size: int64(len(filez)), corrupt: true},
		{name: "bad byte", data: flipByte(filez, len(filez)/2), size: int64(len(filez)), corrupt: true},
		{name: "bad byte, streamed", held: maxWholeHeld, data: flipByte(filez, len(filez)/2), size: int64(len(filez)), corrupt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := repo.Init(filepath.Join(t.TempDir(), "client"), repo.ModeBareUser)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := r.Begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Abort()
			partial := filepath.Join(t.TempDir(), "partial")
			if err := os.WriteFile(partial, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			fh, err := os.Open(partial)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			p := &puller{tx: tx}
			p.wholeHeld.Store(tc.held)
			fi, err := p.stageFile(c, fh, tc.size)
			if got := p.wholeHeld.Load(); got != tc.held {
				t.Errorf("the pull holds %d bytes after, %d before", got, tc.held)
			}
			if tc.corrupt {
				if !errors.Is(err, repo.ErrCorrupt) {
					t.Fatalf("got %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size != uint64(len(payload)) {
				t.Errorf("size %d, want %d", fi.Size, len(payload))
			}
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(r.ObjectPath(c, repo.ObjFile))
			if err != nil || !bytes.Equal(got, payload) {
				t.Errorf("staged object: %d bytes, %v", len(got), err)
			}
		})
	}
}

func flipByte(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x20
	return b
}
