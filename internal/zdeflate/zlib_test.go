package zdeflate

import (
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	kflate "github.com/klauspost/compress/flate"
)

// zlibDeflate compresses data with the system's zlib (through Python's
// zlib module, which links it) as GLib's raw GZlibCompressor does.
func zlibDeflate(t *testing.T, data []byte, level int) []byte {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 (for the system zlib) is missing")
		}
		t.Skip("SKIP: python3 (for the system zlib) is missing")
	}
	cmd := exec.Command(py, "-c", `import sys, zlib
level = int(sys.argv[1])
c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
d = sys.stdin.buffer.read()
sys.stdout.buffer.write(c.compress(d) + c.flush(zlib.Z_FINISH))`, string(rune('0'+level)))
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compress(t *testing.T, data []byte, level, chunk int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(chunk, len(data))
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// inputs are payloads of the kinds a tree holds: empty, tiny, text,
// repetitive, random, and mixtures over several windows.
func inputs() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	text := func(n int) []byte {
		words := []string{"the ", "ostree ", "repository ", "commit ", "object ", "\n", "zlib ", "deflate ", "a ", "of "}
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[r.IntN(len(words))])
		}
		return b.Bytes()[:n]
	}
	skewed := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.ExpFloat64() * 8)
		}
		return b
	}
	mixed := append(append(append(text(50000), random(40000)...), bytes.Repeat([]byte("abcabcabd"), 9000)...), skewed(100000)...)
	src, _ := os.ReadFile("deflate.go")
	return map[string][]byte{
		"empty":  {},
		"one":    {'x'},
		"hello":  []byte("hello\n"),
		"binary": {0, 1, 2, 0xff, 0xfe, '\n', 0},
		"zeros":  make([]byte, 300000),
		"text":   text(200000),
		"random": random(100000),
		"skewed": skewed(300000),
		"mixed":  mixed,
		"source": src,
		"repeat": bytes.Repeat([]byte("0123456789"), 70000),
	}
}

func TestLikeZlib(t *testing.T) {
	for name, data := range inputs() {
		for _, level := range []int{6, 4, 9} {
			want := zlibDeflate(t, data, level)
			for _, chunk := range []int{1 << 30, 8192, 777} {
				got := compress(t, data, level, chunk)
				if !bytes.Equal(got, want) {
					i := 0
					for i < len(got) && i < len(want) && got[i] == want[i] {
						i++
					}
					t.Errorf("%s level %d chunk %d: %d bytes, zlib %d; first difference at %d", name, level, chunk, len(got), len(want), i)
				}
				back, err := io.ReadAll(flate.NewReader(bytes.NewReader(got)))
				if err != nil || !bytes.Equal(back, data) {
					t.Errorf("%s level %d: does not inflate back: %v", name, level, err)
				}
			}
		}
	}
}

// FuzzRoundTrip checks that any input inflates back from the stream.
func FuzzRoundTrip(f *testing.F) {
	for _, d := range inputs() {
		if len(d) < 5000 {
			f.Add(d, 6)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, level int) {
		level = 4 + (level%6+6)%6
		got := compress(t, data, level, 1000)
		back, err := io.ReadAll(flate.NewReader(bytes.NewReader(got)))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("level %d: does not inflate back: %v", level, err)
		}
	})
}

// BenchmarkDeflate compares the writer with klauspost's at level 6, the
// compressor repofs uses otherwise (run with -bench, alternate, noisy).
func BenchmarkDeflate(b *testing.B) {
	in := inputs()
	data := append(append([]byte(nil), in["text"]...), in["mixed"]...)
	b.Run("zdeflate", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		w, _ := NewWriter(io.Discard, 6)
		for b.Loop() {
			w.Reset(io.Discard, 6)
			w.Write(data)
			w.Close()
		}
	})
	b.Run("klauspost", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		w, _ := kflate.NewWriter(io.Discard, 6)
		for b.Loop() {
			w.Reset(io.Discard)
			w.Write(data)
			w.Close()
		}
	})
}
