package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestVerifyContent checks whole objects of every mode, large ones (more
// than one chunk) included, and finds a flipped byte, a truncation, a
// missing object and metadata that is not the object's.
func TestVerifyContent(t *testing.T) {
	ctx := context.Background()
	large := bytes.Repeat([]byte("0123456789abcdef"), (3*verifyChunk)/16+5)
	for _, mode := range []Mode{ModeBare, ModeBareUser, ModeBareUserOnly, ModeArchive} {
		for _, payload := range [][]byte{nil, []byte("hello\n"), large} {
			t.Run(fmt.Sprintf("%s/%d", mode, len(payload)), func(t *testing.T) {
				r := initRepo(t, mode)
				fi := &FileInfo{Mode: 0o100644, Size: uint64(len(payload))}
				tx, err := r.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				c, err := tx.WriteContent(fi, bytes.NewReader(payload), nil)
				if err == nil {
					err = tx.Commit(ctx)
				}
				if err != nil {
					t.Fatal(err)
				}
				fi, err = r.StatFile(c)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.VerifyContent(ctx, c, fi); err != nil {
					t.Fatalf("intact object: %v", err)
				}
				if mode != ModeArchive {
					if err := CheckPayload(c, fi, payload); err != nil {
						t.Fatalf("CheckPayload of the intact payload: %v", err)
					}
				}
				other := *fi
				other.Mode = 0o100600
				if err := r.VerifyContent(ctx, c, &other); !errors.Is(err, ErrCorrupt) {
					t.Errorf("other metadata: %v, want ErrCorrupt", err)
				}
				p := r.objectPath(c, ObjFile)
				if len(payload) > 0 && mode != ModeArchive {
					flipped := bytes.Clone(payload)
					flipped[len(flipped)-1] ^= 1
					if err := CheckPayload(c, fi, flipped); !errors.Is(err, ErrCorrupt) {
						t.Errorf("CheckPayload of a flipped payload: %v, want ErrCorrupt", err)
					}
					flipByte(t, p, int64(len(payload)-1))
					err := r.VerifyContent(ctx, c, fi)
					if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.String()) {
						t.Errorf("flipped byte: %v, want ErrCorrupt naming %s", err, c)
					}
					if err := os.Truncate(p, int64(len(payload)-1)); err != nil {
						t.Fatal(err)
					}
					if err := r.VerifyContent(ctx, c, fi); !errors.Is(err, ErrCorrupt) {
						t.Errorf("truncated: %v, want ErrCorrupt", err)
					}
				}
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := r.VerifyContent(ctx, c, fi); !errors.Is(err, ErrNotFound) {
					t.Errorf("missing: %v, want ErrNotFound", err)
				}
			})
		}
	}
}

// TestVerifyContentCancel stops between chunks when ctx is done.
func TestVerifyContentCancel(t *testing.T) {
	r := initRepo(t, ModeBareUser)
	payload := bytes.Repeat([]byte{7}, 2*verifyChunk)
	fi := &FileInfo{Mode: 0o100644, Size: uint64(len(payload))}
	tx, err := r.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tx.WriteContent(fi, bytes.NewReader(payload), nil)
	if err == nil {
		err = tx.Commit(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.VerifyContent(ctx, c, fi); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

func flipByte(t *testing.T, p string, off int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
