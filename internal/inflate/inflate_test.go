package inflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// samples are inputs of the shapes DEFLATE meets: text, binary, runs,
// noise, tiny and empty.
func samples(t testing.TB) map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 300<<10)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	words := []string{"package ", "func ", "return ", "err ", "nil", "{\n", "}\n", "\t", "if ", ":= ", "fmt.Errorf(", "\"%w\"", "x", "y"}
	var text bytes.Buffer
	for text.Len() < 500<<10 {
		text.WriteString(words[rng.IntN(len(words))])
	}
	var skewed []byte
	for range 200 << 10 {
		skewed = append(skewed, "aaaaaaaabbbbccd\x00\xff"[rng.IntN(17)])
	}
	s := map[string][]byte{
		"empty":  {},
		"one":    {'x'},
		"run":    bytes.Repeat([]byte{'z'}, 100<<10),
		"pairs":  bytes.Repeat([]byte("ab"), 70<<10),
		"noise":  noise,
		"text":   text.Bytes(),
		"skewed": skewed,
	}
	// This very package's source, and the Go tree's own files when
	// they are there, as real-world text and binaries.
	for _, p := range []string{"inflate.go", filepath.Join(runtime.GOROOT(), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, "vet")} {
		if b, err := os.ReadFile(p); err == nil {
			s[filepath.Base(p)] = b[:min(len(b), 2<<20)]
		}
	}
	return s
}

func compress(t testing.TB, data []byte, level int) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	// Several flushes: stored, empty and partial blocks in one stream.
	for len(data) > 0 {
		n := min(len(data), 100<<10)
		w.Write(data[:n])
		data = data[n:]
		if n%3 == 0 {
			w.Flush()
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var levels = []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, 5, flate.BestCompression}

func TestDecode(t *testing.T) {
	for name, data := range samples(t) {
		for _, level := range levels {
			z := compress(t, data, level)
			dst := make([]byte, len(data))
			if err := Decode(dst, z); err != nil {
				t.Errorf("%s level %d: %v", name, level, err)
			} else if !bytes.Equal(dst, data) {
				t.Errorf("%s level %d: decoded bytes differ", name, level)
			}
		}
	}
}

// TestDecodeReused: Decode reuses its decoders, so one that failed half
// way through a stream, or decoded other tables, must decode the next
// stream as a fresh one would.
func TestDecodeReused(t *testing.T) {
	ss := samples(t)
	data, text := ss["vet"], ss["text"]
	if data == nil {
		data = ss["noise"]
	}
	z, zt := compress(t, data, 9), compress(t, text, 1)
	for i := range 20 {
		dst := make([]byte, len(text))
		if err := Decode(dst, zt[:len(zt)/2+i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated: %v", err)
		}
		dst = make([]byte, len(data))
		if err := Decode(dst, z); err != nil || !bytes.Equal(dst, data) {
			t.Fatalf("round %d after a failure: equal %v, %v", i, bytes.Equal(dst, data), err)
		}
		dst = make([]byte, len(text))
		if err := Decode(dst, zt); err != nil || !bytes.Equal(dst, text) {
			t.Fatalf("round %d after other tables: equal %v, %v", i, bytes.Equal(dst, text), err)
		}
	}
}

// TestFixedBlock: a stream with one fixed-Huffman block, as zlib writes
// for short inputs (compress/flate never does).
func TestFixedBlock(t *testing.T) {
	// By Python's zlib.compressobj(9, DEFLATED, -15): fixed codes, matches.
	for want, z := range map[string][]byte{
		"hello hello hello\n":          {0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0xc8, 0x40, 0x90, 0x5c, 0x00},
		"abcabcabcabcabcabcabcabc xyz": {0x4b, 0x4c, 0x4a, 0x4e, 0xc4, 0x86, 0x14, 0x2a, 0x2a, 0xab, 0x00},
	} {
		dst := make([]byte, len(want))
		if err := Decode(dst, z); err != nil || string(dst) != want {
			t.Errorf("Decode = %q, %v; want %q", dst, err, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	data := samples(t)["text"]
	z := compress(t, data, 6)
	for _, tc := range []struct {
		name     string
		dst, src []byte
	}{
		{"truncated", make([]byte, len(data)), z[:len(z)-1]},
		{"half", make([]byte, len(data)), z[:len(z)/2]},
		{"empty input", make([]byte, len(data)), nil},
		{"trailing byte", make([]byte, len(data)), append(bytes.Clone(z), 0)},
		{"output too short", make([]byte, len(data)-1), z},
		{"output too long", make([]byte, len(data)+1), z},
		{"block type 3", make([]byte, 1), []byte{0x07}},
		{"stored length complement", make([]byte, 1), []byte{0x01, 0x01, 0x00, 0x00, 0x00, 'x'}},
		{"stored past the input", make([]byte, 4), []byte{0x01, 0x04, 0x00, 0xfb, 0xff, 'x'}},
		{"distance before the start", make([]byte, 10), []byte{0x63, 0x00, 0x01, 0x00}},
	} {
		err := Decode(tc.dst, tc.src)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", tc.name, err)
		}
	}
	// Every single-bit flip decodes to an error or to other bytes of the
	// right length, never to a panic.
	small := compress(t, data[:2000], 6)
	for i := range len(small) * 8 {
		bad := bytes.Clone(small)
		bad[i/8] ^= 1 << (i % 8)
		Decode(make([]byte, 2000), bad)
	}
}

// reference decodes src with compress/flate and reports whether it is a
// whole stream: decoded without error, with no input left after it.
func reference(src []byte, limit int) ([]byte, bool) {
	r := bytes.NewReader(src)
	fr := flate.NewReader(r)
	out, err := io.ReadAll(io.LimitReader(fr, int64(limit)+1))
	return out, err == nil && len(out) <= limit && r.Len() == 0
}

// FuzzDecode checks Decode against compress/flate: it accepts exactly the
// whole streams compress/flate decodes, to the same bytes.
func FuzzDecode(f *testing.F) {
	// Small seeds: the fuzzer mutates and minimizes faster.
	for _, data := range samples(f) {
		for _, level := range levels {
			f.Add(compress(f, data[:min(len(data), 3000)], level))
		}
	}
	f.Add([]byte{0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0xc8, 0x40, 0x90, 0x5c, 0x00})
	f.Fuzz(func(t *testing.T, src []byte) {
		want, ok := reference(src, 1<<20)
		dst := make([]byte, len(want))
		err := Decode(dst, src)
		switch {
		case ok && err != nil:
			t.Fatalf("compress/flate decodes %d bytes, Decode fails: %v", len(want), err)
		case !ok && err == nil:
			t.Fatalf("compress/flate fails (%d bytes out), Decode succeeds", len(want))
		case ok && !bytes.Equal(dst, want):
			t.Fatalf("decoded bytes differ from compress/flate's")
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		// The Reader agrees, through windows that slide.
		got, rerr := io.ReadAll(io.LimitReader(iotest(NewReader(src)), 1<<20+1))
		switch {
		case len(got) > 1<<20:
		case ok != (rerr == nil):
			t.Fatalf("Reader: %v; compress/flate decodes a whole stream: %v", rerr, ok)
		case ok && !bytes.Equal(got, want):
			t.Fatalf("Reader: decoded bytes differ from compress/flate's")
		case rerr != nil && !errors.Is(rerr, ErrCorrupt):
			t.Fatalf("Reader: error %v does not wrap ErrCorrupt", rerr)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"text", "vet", "noise"} {
		data, ok := samples(b)[name]
		if !ok {
			continue
		}
		z := compress(b, data, 6)
		dst := make([]byte, len(data))
		b.Run(name+"/inflate", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := Decode(dst, z); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/compress-flate", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			fr := flate.NewReader(nil)
			for b.Loop() {
				fr.(flate.Resetter).Reset(bytes.NewReader(z), nil)
				if _, err := io.ReadFull(fr, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestReader decodes every sample through a Reader, with reads of many
// sizes (windows slide mid-match and mid-stored-block), and its errors.
func TestReader(t *testing.T) {
	var z *Reader
	for name, data := range samples(t) {
		for _, level := range levels {
			src := compress(t, data, level)
			if z == nil {
				z = NewReader(src)
			} else {
				z.Reset(src)
			}
			got, err := io.ReadAll(iotest(z))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s level %d: %d bytes of %d, %v", name, level, len(got), len(data), err)
			}
		}
	}
	text := samples(t)["text"]
	src := compress(t, text, 6)
	huff := compress(t, text, flate.HuffmanOnly)
	for name, bad := range map[string][]byte{
		"truncated": src[:len(src)-3],
		"trailing":  append(bytes.Clone(src), 1, 2),
		// Cut mid-block, where the zeros read past the end decode to
		// symbols, never to the block's end.
		"huffman-only, half": huff[:len(huff)/2],
	} {
		z.Reset(bad)
		n, err := io.Copy(io.Discard, io.LimitReader(z, int64(len(text))+1))
		if !errors.Is(err, ErrCorrupt) || n > int64(len(text)) {
			t.Errorf("%s: %d bytes, %v; want ErrCorrupt within %d bytes", name, n, err, len(text))
		}
	}
}

// iotest reads r in varying sizes, 1 to 100 KiB.
func iotest(r io.Reader) io.Reader {
	sizes := []int{1, 7, 4096, 100 << 10, 3, 65536}
	i := 0
	return readerFunc(func(p []byte) (int, error) {
		n := min(len(p), sizes[i%len(sizes)])
		i++
		return r.Read(p[:n])
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
