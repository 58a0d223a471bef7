package delta

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func applyPatch(t testing.TB, old, new, patch []byte) []byte {
	t.Helper()
	var got []byte
	err := bspatch(bytes.NewReader(old), int64(len(old)), uint64(len(new)), patch, func(b []byte) error {
		got = append(got, b...)
		return nil
	})
	if err != nil {
		t.Fatalf("bspatch of a generated patch: %v", err)
	}
	return got
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestMakePatch(t *testing.T) {
	base := randBytes(1, 1<<20)
	edited := bytes.Clone(base)
	copy(edited[len(edited)/2:], "an edit in the middle")
	inserted := append(append(bytes.Clone(base[:1000]), "inserted bytes"...), base[1000:]...)
	shifted := bytes.Clone(base)
	for i := 0; i < len(shifted); i += 64 { // a pointer every 64 bytes changes
		shifted[i]++
	}
	for _, tc := range []struct {
		name     string
		old, new []byte
		maxPatch int // bytes of the patch, before compression
	}{
		{"empty", nil, nil, 24},
		{"to empty", base, nil, 24},
		{"from empty", nil, []byte("hello"), 29},
		{"short", []byte("abc"), []byte("abd"), 27},
		{"same", base, base, 48 + len(base)},
		{"edit", base, edited, 200 + len(base)},
		{"insert", base, inserted, 200 + len(inserted)},
		{"truncate", base, base[:len(base)/3], 48 + len(base)/3},
		{"unrelated", base, randBytes(2, 5000), 5000 + 24},
		{"scattered", base, shifted, len(base) + 1<<16},
		{"tail moved", base, append(bytes.Clone(base[len(base)/2:]), base[:len(base)/2]...), len(base) + 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := makePatch(tc.old, tc.new)
			if got := applyPatch(t, tc.old, tc.new, p); !bytes.Equal(got, tc.new) {
				t.Fatalf("patched %d bytes differ from the new %d", len(got), len(tc.new))
			}
			if len(p) > tc.maxPatch {
				t.Errorf("patch of %d bytes, want at most %d", len(p), tc.maxPatch)
			}
			// The diff block of a near-copy is mostly zeros.
			if tc.name == "edit" || tc.name == "scattered" {
				if z := bytes.Count(p, []byte{0}); z < len(p)*9/10 {
					t.Errorf("%d of %d patch bytes are zero, want 90%%", z, len(p))
				}
			}
		})
	}
}

func FuzzMakePatch(f *testing.F) {
	f.Add([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789"), []byte("0123456789abcdefXhijklmnopqrstuvwxyz012345678"))
	f.Add([]byte{}, []byte("x"))
	f.Fuzz(func(t *testing.T, old, new []byte) {
		p := makePatch(old, new)
		if got := applyPatch(t, old, new, p); !bytes.Equal(got, new) {
			t.Fatalf("round trip differs")
		}
	})
}

func applyCopies(old []byte, ops []copyOp) []byte {
	var out []byte
	for _, c := range ops {
		if c.lit != nil {
			out = append(out, c.lit...)
		} else {
			out = append(out, old[c.off:c.off+c.n]...)
		}
	}
	return out
}

func TestMakeCopies(t *testing.T) {
	base := randBytes(1, 1<<20)
	edited := bytes.Clone(base)
	copy(edited[len(edited)/2:], "an edit in the middle")
	inserted := append(append(bytes.Clone(base[:1000]), "inserted bytes"...), base[1000:]...)
	appended := append(bytes.Clone(base[:5000]), "\n// a line appended\n"...)
	shifted := bytes.Clone(base)
	for i := 0; i < len(shifted); i += 64 { // a pointer every 64 bytes changes
		shifted[i]++
	}
	for _, tc := range []struct {
		name     string
		old, new []byte
		ok       bool
		maxLit   int // literal bytes
		maxOps   int
	}{
		{"same", base, base, true, 0, 1},
		{"edit", base, edited, true, 21, 3},
		{"insert", base, inserted, true, 14, 3},
		{"appended", base[:5000], appended, true, 20, 2},
		{"truncate", base, base[:len(base)/3], true, 0, 1},
		{"tail moved", base, append(bytes.Clone(base[len(base)/2:]), base[:len(base)/2]...), true, 0, 2},
		{"unrelated", base, randBytes(2, 5000), false, 0, 0},
		{"scattered", base, shifted, false, 0, 0},
		{"tiny", []byte("abc"), []byte("abd"), false, 0, 0},
		{"small", base[:100], append(bytes.Clone(base[:100]), "edited 1\n"...), false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, ok := makeCopies(tc.old, tc.new)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v (%d ops)", ok, tc.ok, len(ops))
			}
			if !ok {
				return
			}
			if got := applyCopies(tc.old, ops); !bytes.Equal(got, tc.new) {
				t.Fatalf("copies make %d bytes that differ from the new %d", len(got), len(tc.new))
			}
			lit := 0
			for _, c := range ops {
				lit += len(c.lit)
				if c.lit == nil && c.n < minCopy {
					t.Errorf("copy of %d bytes, under %d", c.n, minCopy)
				}
			}
			if lit > tc.maxLit || len(ops) > tc.maxOps {
				t.Errorf("%d ops, %d literal bytes; want at most %d and %d", len(ops), lit, tc.maxOps, tc.maxLit)
			}
		})
	}
}

func FuzzMakeCopies(f *testing.F) {
	f.Add(bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), 4), append(bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), 4), "tail"...))
	f.Add([]byte{}, []byte("x"))
	f.Fuzz(func(t *testing.T, old, new []byte) {
		ops, ok := makeCopies(old, new)
		if !ok {
			return
		}
		if got := applyCopies(old, ops); !bytes.Equal(got, new) {
			t.Fatalf("round trip differs")
		}
	})
}
