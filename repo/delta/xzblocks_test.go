package delta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/repofs/repofs/repo"
)

// setIndexSize adds d to the uncompressed size of the last block in a
// stream's index (keeping the varint's length) and rewrites its CRC.
func setIndexSize(t *testing.T, s []byte, d int64) {
	t.Helper()
	back := binary.LittleEndian.Uint32(s[len(s)-8:])
	idx := s[len(s)-12-int(back+1)*4 : len(s)-12]
	r := bytes.NewReader(idx[1:])
	n, _ := binary.ReadUvarint(r)
	var at int
	for range n {
		binary.ReadUvarint(r)
		at = len(idx) - 1 - r.Len()
		binary.ReadUvarint(r)
	}
	old := len(idx) - 1 - r.Len() - at
	cur, _ := binary.Uvarint(idx[at+1:])
	size := uint64(int64(cur) + d)
	enc := binary.AppendUvarint(nil, size)
	if len(enc) != old {
		t.Fatalf("size %d takes %d bytes, the index has %d", size, len(enc), old)
	}
	copy(idx[at+1:], enc)
	binary.LittleEndian.PutUint32(idx[len(idx)-4:], crc32.ChecksumIEEE(idx[:len(idx)-4]))
}

// TestDecodeBlocks: a part of several xz blocks decodes in parallel to
// what the sequential decoder makes; a corrupt or lying block is
// ErrInvalid, a huge dictionary ErrDictTooLarge, a payload over the limit
// is refused; streams not split go to the sequential decoder.
func TestDecodeBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	blob := make([]byte, 600<<10)
	for i := range blob {
		if i%3 == 0 {
			blob[i] = byte(rng.Uint32())
		} else {
			blob[i] = "static delta"[i%12]
		}
	}
	p := &Part{Modes: []Mode{{0, 0, 0o100644}}, Xattrs: [][]repo.Xattr{nil}, Blob: blob, Ops: []byte("S")}
	file, err := EncodePart(p, true)
	if err != nil {
		t.Fatal(err)
	}
	blocks, ok := splitXZ(file[1:])
	if !ok || len(blocks) < 3 {
		t.Fatalf("EncodePart wrote %d blocks (%v), want several", len(blocks), ok)
	}
	seq, err := ReadPart(bytes.NewReader(file), 4<<20, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodePart(file, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Blob, seq.Blob) || !bytes.Equal(got.Blob, blob) || !bytes.Equal(got.Ops, p.Ops) {
		t.Fatalf("parallel decode differs from the sequential one")
	}
	if _, err := decodeBlocks(blocks, 4<<20); err != nil {
		t.Fatalf("decodeBlocks: %v", err)
	}
	if _, err := decodeBlocks(blocks, 100<<10); err != errSequential {
		t.Fatalf("decodeBlocks over the limit: %v, want errSequential", err)
	}

	offs := xzBlockOffsets(t, file[1:])
	for _, tc := range []struct {
		name   string
		mangle func(s []byte)
		want   error
	}{
		{"flipped byte in a block", func(s []byte) { s[offs[1]+200] ^= 1 }, ErrInvalid},
		{"index says less", func(s []byte) { setIndexSize(t, s, -1) }, ErrInvalid},
		{"index says more", func(s []byte) { setIndexSize(t, s, 1) }, ErrInvalid},
		{"4 GiB dictionary", func(s []byte) { setDict(t, s, offs[2], 40) }, ErrDictTooLarge},
		{"over the limit", func([]byte) {}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := bytes.Clone(file)
			tc.mangle(f[1:])
			limit := uint64(4 << 20)
			if tc.name == "over the limit" {
				limit = 300 << 10
			}
			if _, err := DecodePart(f, limit); !errors.Is(err, tc.want) {
				t.Fatalf("DecodePart: %v, want %v", err, tc.want)
			}
		})
	}

	// One block, or a stream that does not frame, is not split.
	for _, s := range [][]byte{
		xzStream(t, xz.WriterConfig{}, blob),
		file[1 : len(file)-1],
		append(bytes.Clone(file[1:]), 0, 0, 0, 0), // stream padding
	} {
		if _, ok := splitXZ(s); ok {
			t.Errorf("stream of %d bytes split", len(s))
		}
	}
}

// FuzzSplitXZ: splitting never panics, and what splits decodes to what
// the sequential decoder makes of the whole, or fails where it fails.
func FuzzSplitXZ(f *testing.F) {
	f.Add(xzStream(f, xz.WriterConfig{BlockSize: 1 << 10, DictCap: 64 << 10}, bytes.Repeat([]byte("abcdefgh"), 1000)))
	f.Add(xzStream(f, xz.WriterConfig{BlockSize: 100, DictCap: 64 << 10, CheckSum: xz.SHA256}, bytes.Repeat([]byte("xyz"), 200)))
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, ok := splitXZ(data)
		if !ok {
			return
		}
		par, perr := decodeBlocks(blocks, 1<<20)
		if perr == errSequential {
			return
		}
		seq, serr := readGuarded(data)
		if perr == nil && (serr != nil || !bytes.Equal(par, seq)) {
			t.Fatalf("parallel decode of %d bytes succeeded, sequential: %v", len(par), serr)
		}
		if perr != nil && !errors.Is(perr, ErrInvalid) {
			t.Fatalf("parallel decode: %v, not ErrInvalid", perr)
		}
	})
}

// TestShrinkDict: a block split off for parallel decoding declares a
// dictionary no larger than the block (the smallest code that holds it),
// still decodes to what the sequential decoder makes, and keeps a
// dictionary already small, or one over MaxDictSize for the guard to
// refuse.
func TestShrinkDict(t *testing.T) {
	data := bytes.Repeat([]byte("a block of a static delta part, "), 4096) // 128 KiB
	stream := xzStream(t, xz.WriterConfig{BlockSize: 40 << 10}, data)
	off := xzBlockOffsets(t, stream)
	if len(off) < 3 {
		t.Fatalf("%d blocks, want several", len(off))
	}
	for _, tc := range []struct {
		name      string
		code      byte  // written into every block header; 0xff: as written (8 MiB)
		wantMax   int64 // largest dictionary a split block may declare
		wantError error
	}{
		{"as written", 0xff, 64 << 10, nil},
		{"already small", 0, 4 << 10, nil},
		{"4 GiB", 40, 1<<32 - 1, ErrDictTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := bytes.Clone(stream)
			if tc.code != 0xff {
				for _, o := range off {
					setDict(t, s, o, tc.code)
				}
			}
			blocks, ok := splitXZ(s)
			if !ok {
				t.Fatal("not split")
			}
			for i, b := range blocks {
				h := b.stream[xzHeaderLen:]
				dict, ok := lzma2Dict(h[:(int(h[0])+1)*4-4])
				if !ok || dict > tc.wantMax || (tc.wantError == nil && dict < min(b.size, 4<<10)) {
					t.Errorf("block %d of %d bytes declares %d (%v), want at most %d", i, b.size, dict, ok, tc.wantMax)
				}
			}
			got, err := decodeBlocks(blocks, 1<<20)
			if !errors.Is(err, tc.wantError) {
				t.Fatalf("decodeBlocks: %v, want %v", err, tc.wantError)
			}
			if err == nil && !bytes.Equal(got, data) {
				t.Fatal("parallel decode differs from the input")
			}
		})
	}
}
