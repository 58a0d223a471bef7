package delta

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ulikunitz/xz"
)

// xzStream compresses data with the given writer settings.
func xzStream(t testing.TB, c xz.WriterConfig, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := c.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// xzBlockOffsets finds the blocks of a single xz stream from its index.
func xzBlockOffsets(t *testing.T, s []byte) []int {
	t.Helper()
	back := binary.LittleEndian.Uint32(s[len(s)-8:])
	idx := s[len(s)-12-int(back+1)*4:]
	if idx[0] != 0 {
		t.Fatal("no index indicator")
	}
	r := bytes.NewReader(idx[1:])
	n, _ := binary.ReadUvarint(r)
	off := []int{12}
	for range n {
		unpadded, _ := binary.ReadUvarint(r)
		binary.ReadUvarint(r)
		off = append(off, off[len(off)-1]+int(unpadded+3)&^3)
	}
	return off[:n]
}

// setDict rewrites the LZMA2 dictionary code of the block header at off,
// and the header's CRC.
func setDict(t *testing.T, s []byte, off int, code byte) {
	t.Helper()
	h := s[off : off+(int(s[off])+1)*4]
	i := bytes.Index(h[2:], []byte{0x21, 0x01})
	if i < 0 {
		t.Fatalf("no LZMA2 filter in block header % x", h)
	}
	h[2+i+2] = code
	binary.LittleEndian.PutUint32(h[len(h)-4:], crc32.ChecksumIEEE(h[:len(h)-4]))
}

// readGuarded decodes an xz stream through the guard, as ReadPart does.
func readGuarded(s []byte) ([]byte, error) {
	r, err := xz.NewReader(newXZGuard(bufio.NewReader(bytes.NewReader(s)), MaxDictSize))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestXZGuard(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 300<<10) // incompressible: uncompressed chunks
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := bytes.Repeat([]byte("static delta part payload "), 20000)
	mixed := append(append([]byte{}, text[:100<<10]...), random...)
	tests := []struct {
		name string
		c    xz.WriterConfig
		data []byte
		// dict, when set, is the code written into block block's header.
		dict, block int
		wantErr     bool
	}{
		{name: "text crc64", c: xz.WriterConfig{}, data: text},
		{name: "random crc32", c: xz.WriterConfig{CheckSum: xz.CRC32}, data: random},
		{name: "mixed sha256 blocks", c: xz.WriterConfig{CheckSum: xz.SHA256, BlockSize: 64 << 10}, data: mixed},
		{name: "mixed no check blocks", c: xz.WriterConfig{NoCheckSum: true, BlockSize: 50 << 10}, data: mixed},
		{name: "empty", c: xz.WriterConfig{}, data: nil},
		{name: "64 MiB dictionary", c: xz.WriterConfig{}, data: text, dict: 28},
		{name: "192 MiB dictionary", c: xz.WriterConfig{}, data: text, dict: 31, wantErr: true},
		{name: "4 GiB dictionary", c: xz.WriterConfig{}, data: random, dict: 40, wantErr: true},
		{name: "4 GiB dictionary in the last block", c: xz.WriterConfig{BlockSize: 64 << 10}, data: mixed, dict: 40, block: -1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := xzStream(t, tt.c, tt.data)
			if tt.dict != 0 {
				blocks := xzBlockOffsets(t, s)
				b := tt.block
				if b < 0 {
					b += len(blocks)
				}
				if tt.block < 0 && len(blocks) < 3 {
					t.Fatalf("%d blocks: the test wants several", len(blocks))
				}
				setDict(t, s, blocks[b], byte(tt.dict))
			}
			got, err := readGuarded(s)
			if tt.wantErr {
				if !errors.Is(err, ErrDictTooLarge) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrDictTooLarge", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Fatalf("decoded %d bytes, want %d", len(got), len(tt.data))
			}
		})
	}
}

// TestReadPartDictTooLarge: a part file whose xz stream declares a
// 4 GiB dictionary is refused, naming the limit, before anything is
// allocated for it.
func TestReadPartDictTooLarge(t *testing.T) {
	p, err := DecodePart(readTestdata(t, "update.part0"), 1<<22)
	if err != nil {
		t.Fatal(err)
	}
	file, err := EncodePart(p, true)
	if err != nil {
		t.Fatal(err)
	}
	setDict(t, file[1:], 12, 40)
	_, err = ReadPart(bytes.NewReader(file), 1<<22, t.TempDir())
	if !errors.Is(err, ErrDictTooLarge) {
		t.Fatalf("ReadPart: %v, want ErrDictTooLarge", err)
	}
	t.Log(err)
}

// FuzzXZGuard: the guard passes any input through unchanged, unless it
// stops it for a dictionary over the limit.
func FuzzXZGuard(f *testing.F) {
	f.Add(xzStream(f, xz.WriterConfig{BlockSize: 1 << 10, DictCap: 64 << 10}, bytes.Repeat([]byte("abcdefgh"), 1000)))
	f.Add(xzStream(f, xz.WriterConfig{CheckSum: xz.SHA256, DictCap: 64 << 10}, []byte("x")))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := io.ReadAll(newXZGuard(bufio.NewReaderSize(bytes.NewReader(data), 16), 1<<20))
		if err != nil {
			if !errors.Is(err, ErrDictTooLarge) || !bytes.HasPrefix(data, out) {
				t.Fatalf("err %v after %d bytes", err, len(out))
			}
			return
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("passed %d bytes of %d, changed", len(out), len(data))
		}
	})
}
