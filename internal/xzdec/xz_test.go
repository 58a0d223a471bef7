package xzdec

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/ulikunitz/xz"
	ulzma "github.com/ulikunitz/xz/lzma"
)

// samples are payloads like a delta part's: text, runs, noise, and
// mixtures of them.
func samples() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var text bytes.Buffer
	words := []string{"package ", "func ", "return ", "err ", "nil", "\n\t", "if ", "{", "}", "(", ")", "x", "repofs", "delta"}
	for text.Len() < 200<<10 {
		text.WriteString(words[rng.IntN(len(words))])
	}
	var mixed bytes.Buffer
	for mixed.Len() < 400<<10 {
		switch rng.IntN(3) {
		case 0:
			mixed.Write(noise(rng.IntN(5000)))
		case 1:
			mixed.Write(bytes.Repeat([]byte{byte(rng.IntN(256))}, rng.IntN(3000)))
		default:
			at := rng.IntN(text.Len() - 70000)
			mixed.Write(text.Bytes()[at : at+rng.IntN(70000)])
		}
	}
	return map[string][]byte{
		"empty":  nil,
		"one":    {42},
		"zeros":  make([]byte, 256<<10),
		"noise":  noise(300 << 10),
		"text":   text.Bytes(),
		"mixed":  mixed.Bytes(),
		"period": bytes.Repeat([]byte("abc"), 100000),
	}
}

func encodeUlikunitz(t testing.TB, data []byte, c xz.WriterConfig) []byte {
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

func decodeUlikunitz(in []byte) ([]byte, error) {
	r, err := xz.NewReader(bytes.NewReader(in))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

var opts = Options{Limit: 1 << 30, MaxDict: 1 << 30}

// TestDecodeUlikunitz: what ulikunitz/xz writes (the parts repofs
// generates), in one block or several, with each check, decodes to the
// input.
func TestDecodeUlikunitz(t *testing.T) {
	configs := map[string]xz.WriterConfig{
		"default":   {},
		"blocks":    {BlockSize: 100 << 10},
		"crc32":     {CheckSum: xz.CRC32, BlockSize: 200 << 10},
		"none":      {CheckSum: xz.None},
		"smalldict": {DictCap: 64 << 10},
		"lc0lp4pb0": {Properties: &ulzma.Properties{LC: 0, LP: 4, PB: 0}},
		"lc4lp0pb4": {Properties: &ulzma.Properties{LC: 4, LP: 0, PB: 4}},
	}
	for sname, data := range samples() {
		for cname, c := range configs {
			t.Run(sname+"/"+cname, func(t *testing.T) {
				in := encodeUlikunitz(t, data, c)
				for _, workers := range []int{1, 2} {
					o := opts
					o.Workers = workers
					got, err := Decode(in, o)
					if err != nil {
						t.Fatalf("workers %d: %v", workers, err)
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("workers %d: decoded %d bytes, differ from the %d encoded", workers, len(got), len(data))
					}
				}
			})
		}
	}
}

// TestDecodeXZUtils: what liblzma writes (ostree's parts), through the
// xz command, decodes to the input: presets, block splits, checks,
// concatenated streams with padding.
func TestDecodeXZUtils(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz is not installed")
	}
	data := samples()
	cases := []struct {
		name, sample string
		args         []string
	}{
		{"text-6", "text", []string{"-6"}},
		{"text-9e", "text", []string{"-9e"}},
		{"text-0", "text", []string{"-0"}},
		{"mixed-blocks", "mixed", []string{"--block-size=300000"}},
		{"mixed-crc32", "mixed", []string{"--check=crc32"}},
		{"mixed-none", "mixed", []string{"--check=none"}},
		{"noise", "noise", []string{}},
		{"zeros", "zeros", []string{}},
		{"period", "period", []string{"--lzma2=preset=6,lc=0,lp=2,pb=0"}},
		{"empty", "empty", []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := xzCmd(t, data[c.sample], c.args...)
			got, err := Decode(in, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[c.sample]) {
				t.Fatalf("decoded %d bytes, differ from the %d encoded", len(got), len(data[c.sample]))
			}
		})
	}
	t.Run("concatenated", func(t *testing.T) {
		a, b := data["text"][:100000], data["mixed"][:150000]
		in := append(append(xzCmd(t, a), make([]byte, 8)...), xzCmd(t, b, "--check=crc32")...)
		in = append(in, 0, 0, 0, 0)
		got, err := Decode(in, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, append(append([]byte{}, a...), b...)) {
			t.Fatal("concatenated streams decode to something else")
		}
	})
}

func xzCmd(t testing.TB, data []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("xz", append([]string{"-c", "-T1"}, args...)...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz %v: %v", args, err)
	}
	return out
}

// TestRefuse: bounds and what the decoder does not do fail with the
// error saying so, before allocating.
func TestRefuse(t *testing.T) {
	data := samples()["text"]
	in := encodeUlikunitz(t, data, xz.WriterConfig{DictCap: 8 << 20})
	cases := []struct {
		name string
		in   []byte
		o    Options
		want error
	}{
		{"limit", in, Options{Limit: uint64(len(data) - 1), MaxDict: 1 << 30}, ErrTooLarge},
		{"dict", in, Options{Limit: 1 << 30, MaxDict: 4 << 20}, ErrDictTooLarge},
		{"truncated", in[:len(in)-1], opts, ErrCorrupt},
		{"garbage", []byte("not xz at all, not at all"), opts, ErrCorrupt},
		{"nothing", nil, opts, ErrCorrupt},
		{"padding", append(append([]byte{}, in...), 0, 0), opts, ErrCorrupt},
	}
	if _, err := exec.LookPath("xz"); err == nil {
		cases = append(cases,
			struct {
				name string
				in   []byte
				o    Options
				want error
			}{"sha256", xzCmd(t, data, "--check=sha256"), opts, ErrUnsupported},
			struct {
				name string
				in   []byte
				o    Options
				want error
			}{"bcj", xzCmd(t, data, "--x86", "--lzma2"), opts, ErrUnsupported},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.in, c.o)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestCorruptBytes: a flipped byte anywhere fails, or (where the
// format cannot tell, as in a check of type none) decodes to what
// ulikunitz decodes it to; never a panic.
func TestCorruptBytes(t *testing.T) {
	data := samples()["mixed"][:100000]
	for _, c := range []xz.WriterConfig{{BlockSize: 32 << 10}, {CheckSum: xz.None}} {
		in := encodeUlikunitz(t, data, c)
		rng := rand.New(rand.NewPCG(3, 4))
		for range 200 {
			bad := bytes.Clone(in)
			bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
			got, err := Decode(bad, opts)
			if err != nil {
				continue
			}
			want, werr := decodeUlikunitz(bad)
			if werr != nil || !bytes.Equal(got, want) {
				t.Fatalf("a damaged file decoded to %d bytes; ulikunitz: %v", len(got), werr)
			}
		}
	}
}

// FuzzDecode: no input panics or decodes past its limit, and what
// decodes is what ulikunitz/xz makes of it.
func FuzzDecode(f *testing.F) {
	data := samples()
	f.Add(encodeUlikunitz(f, data["mixed"][:5000], xz.WriterConfig{DictCap: 64 << 10, BlockSize: 2000}))
	f.Add(encodeUlikunitz(f, data["text"][:3000], xz.WriterConfig{DictCap: 64 << 10, CheckSum: xz.CRC32}))
	f.Add(encodeUlikunitz(f, data["period"][:3000], xz.WriterConfig{DictCap: 64 << 10, CheckSum: xz.None}))
	if _, err := exec.LookPath("xz"); err == nil {
		f.Add(xzCmd(f, data["mixed"][:4000], "--lzma2=dict=64KiB", "--block-size=1500"))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Decode(in, Options{Limit: 1 << 20, MaxDict: 1 << 20})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrDictTooLarge) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if len(got) > 1<<20 {
			t.Fatalf("decoded %d bytes, over the limit", len(got))
		}
		want, werr := decodeUlikunitz(in)
		if werr != nil || !bytes.Equal(got, want) {
			t.Fatalf("decoded %d bytes; ulikunitz: %d bytes, %v", len(got), len(want), werr)
		}
	})
}

// FuzzLZMA2: raw LZMA2 data (no container, no checks in the way) into
// an output of the size its first two bytes say: no panic, and what
// decodes is what ulikunitz/xz's LZMA2 reader makes of it.
func FuzzLZMA2(f *testing.F) {
	data := samples()
	for _, d := range [][]byte{data["mixed"][:6000], data["text"][:3000], data["period"][:2000]} {
		var buf bytes.Buffer
		w, err := ulzma.Writer2Config{DictCap: 64 << 10}.NewWriter2(&buf)
		if err != nil {
			f.Fatal(err)
		}
		w.Write(d)
		w.Close()
		f.Add(append([]byte{byte(len(d) >> 8), byte(len(d))}, buf.Bytes()...))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		out := make([]byte, int(in[0])<<8|int(in[1]))
		if err := decodeLZMA2(new(lzma), new(rangeDec), in[2:], out, 64<<10); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		r, err := ulzma.Reader2Config{DictCap: 64 << 10}.NewReader2(bytes.NewReader(in[2:]))
		if err != nil {
			t.Fatalf("decoded; ulikunitz: %v", err)
		}
		want, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(out, want) {
			t.Fatalf("decoded %d bytes; ulikunitz: %d bytes, %v", len(out), len(want), err)
		}
	})
}
