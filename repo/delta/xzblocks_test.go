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

// TestDecodeXZ: a part's xz stream held in memory decodes (through
// xzdec, its blocks in parallel) to what the sequential decoder makes; a
// corrupt or lying block is ErrInvalid, a huge dictionary
// ErrDictTooLarge, a payload over the limit is refused; what xzdec does
// not do (a SHA-256 check) and payloads over memLimit go to the
// sequential decoder and decode all the same.
func TestDecodeXZ(t *testing.T) {
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
	offs := xzBlockOffsets(t, file[1:])
	if len(offs) < 3 {
		t.Fatalf("EncodePart wrote %d blocks, want several", len(offs))
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
		t.Fatalf("in-memory decode differs from the sequential one")
	}
	payload, err := EncodePart(p, false)
	if err != nil {
		t.Fatal(err)
	}
	sha := append([]byte{'x'}, xzStream(t, xz.WriterConfig{CheckSum: xz.SHA256, BlockSize: 100 << 10}, payload[1:])...)
	if got, err := DecodePart(sha, 4<<20); err != nil || !bytes.Equal(got.Blob, blob) {
		t.Fatalf("DecodePart of a SHA-256-checked stream: %v", err)
	}
	t.Run("over memLimit", func(t *testing.T) {
		defer func(n int) { memLimit = n }(memLimit)
		memLimit = 64 << 10
		got, err := DecodePartSpill(file, 4<<20, t.TempDir())
		if err != nil || !bytes.Equal(got.Blob, blob) {
			t.Fatalf("DecodePartSpill over memLimit: %v", err)
		}
		got.Close()
	})

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
}
