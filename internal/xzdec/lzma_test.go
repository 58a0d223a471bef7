package xzdec

import (
	"bytes"
	"errors"
	"io"
	"math/bits"
	"testing"

	ulzma "github.com/ulikunitz/xz/lzma"
)

// lzEnc writes chosen LZMA symbols (literals, matches, reps; valid or
// not) with the same probability model as the decoder: a way to reach
// each check of the decoder with range-coded data that is otherwise right.
type lzEnc struct {
	s          lzma
	state      uint32
	rep0       uint32
	hist       []byte // the output, for literal contexts
	pos        uint32 // since the dictionary reset
	low        uint64
	rng        uint32
	cache      byte
	cacheSize  int
	out        []byte
	lc, lp, pb uint32
}

func newLZEnc(lc, lp, pb uint32, hist []byte) *lzEnc {
	e := &lzEnc{rng: 0xFFFFFFFF, cacheSize: 1, lc: lc, lp: lp, pb: pb, hist: hist}
	e.s.reset(lc, lp, pb)
	return e
}

func (e *lzEnc) shiftLow() {
	if uint32(e.low) < 0xFF000000 || e.low>>32 != 0 {
		c := e.cache
		for ; e.cacheSize > 0; e.cacheSize-- {
			e.out = append(e.out, c+byte(e.low>>32))
			c = 0xFF
		}
		e.cache = byte(e.low >> 24)
	}
	e.cacheSize++
	e.low = uint64(uint32(e.low) << 8)
}

func (e *lzEnc) bit(p *uint16, b uint32) {
	bound := (e.rng >> probBits) * uint32(*p)
	if b == 0 {
		e.rng = bound
		*p += (1<<probBits - *p) >> moveBits
	} else {
		e.low += uint64(bound)
		e.rng -= bound
		*p -= *p >> moveBits
	}
	for e.rng < topValue {
		e.rng <<= 8
		e.shiftLow()
	}
}

func (e *lzEnc) tree(probs []uint16, n uint, v uint32) {
	m := uint32(1)
	for i := int(n) - 1; i >= 0; i-- {
		b := v >> i & 1
		e.bit(&probs[m], b)
		m = m<<1 | b
	}
}

func (e *lzEnc) reverse(probs []uint16, n uint32, v uint32) {
	m := uint32(1)
	for i := range n {
		b := v >> i & 1
		e.bit(&probs[m], b)
		m = m<<1 | b
	}
}

func (e *lzEnc) posState() uint32 { return e.pos & (1<<e.pb - 1) }

func (e *lzEnc) lit(c byte) {
	e.bit(&e.s.isMatch[e.state<<4|e.posState()], 0)
	prev := uint32(0)
	if e.pos > 0 {
		prev = uint32(e.hist[len(e.hist)-1])
	}
	base := literalCoder * ((e.pos&(1<<e.lp-1))<<e.lc + prev>>(8-e.lc))
	probs := e.s.literal[base : base+literalCoder]
	sym := uint32(1)
	if e.state >= 7 {
		mb := uint32(e.hist[len(e.hist)-int(e.rep0)-1])
		for i := 7; i >= 0; i-- {
			b, mbit := uint32(c)>>i&1, mb>>i&1
			e.bit(&probs[(1+mbit)<<8+sym], b)
			sym = sym<<1 | b
			if b != mbit {
				break
			}
		}
	}
	for sym < 0x100 {
		b := uint32(c) >> (7 - (bits.Len32(sym) - 1)) & 1
		e.bit(&probs[sym], b)
		sym = sym<<1 | b
	}
	e.hist = append(e.hist, c)
	e.pos++
	switch {
	case e.state < 4:
		e.state = 0
	case e.state < 10:
		e.state -= 3
	default:
		e.state -= 6
	}
}

func (e *lzEnc) length(l *lenDecoder, n uint32) {
	n -= minMatchLen
	ps := e.posState()
	switch {
	case n < 8:
		e.bit(&l.choice, 0)
		e.tree(l.low[ps][:], 3, n)
	case n < 16:
		e.bit(&l.choice, 1)
		e.bit(&l.choice2, 0)
		e.tree(l.mid[ps][:], 3, n-8)
	default:
		e.bit(&l.choice, 1)
		e.bit(&l.choice2, 1)
		e.tree(l.high[:], 8, n-16)
	}
}

// copyOut appends a match's bytes to the history where they exist.
func (e *lzEnc) copyOut(dist, n uint32) {
	for range n {
		if dist >= 1 && int(dist) <= len(e.hist) {
			e.hist = append(e.hist, e.hist[len(e.hist)-int(dist)])
		} else {
			e.hist = append(e.hist, 0)
		}
		e.pos++
	}
}

// match writes a match of n bytes at distance dist (rep0 becomes dist-1).
func (e *lzEnc) match(dist, n uint32) {
	e.bit(&e.s.isMatch[e.state<<4|e.posState()], 1)
	e.bit(&e.s.isRep[e.state], 0)
	e.length(&e.s.lenDec, n)
	d := dist - 1
	slot := d
	if d >= 4 {
		nb := uint32(bits.Len32(d) - 1)
		slot = 2*nb + d>>(nb-1)&1
	}
	e.tree(e.s.posSlot[min(n-minMatchLen, 3)][:], 6, slot)
	if slot >= 4 {
		nd := slot>>1 - 1
		base := (2 | slot&1) << nd
		rem := d - base
		if slot < endPosModel {
			e.reverse(e.s.posDec[base-slot:], nd, rem)
		} else {
			for i := int(nd-alignBits) - 1; i >= 0; i-- {
				e.rng >>= 1
				if rem>>(uint(i)+alignBits)&1 != 0 {
					e.low += uint64(e.rng)
				}
				for e.rng < topValue {
					e.rng <<= 8
					e.shiftLow()
				}
			}
			e.reverse(e.s.align[:], alignBits, rem&(1<<alignBits-1))
		}
	}
	e.state = map[bool]uint32{true: 7, false: 10}[e.state < 7]
	e.rep0 = d
	e.copyOut(dist, n)
}

// rep0 writes a match of n bytes at the last distance; n 1 is a short rep.
func (e *lzEnc) repeat(n uint32) {
	e.bit(&e.s.isMatch[e.state<<4|e.posState()], 1)
	e.bit(&e.s.isRep[e.state], 1)
	e.bit(&e.s.isRepG0[e.state], 0)
	if n == 1 {
		e.bit(&e.s.isRep0Long[e.state<<4|e.posState()], 0)
		e.state = map[bool]uint32{true: 9, false: 11}[e.state < 7]
	} else {
		e.bit(&e.s.isRep0Long[e.state<<4|e.posState()], 1)
		e.length(&e.s.repLenDec, n)
		e.state = map[bool]uint32{true: 8, false: 11}[e.state < 7]
	}
	e.copyOut(e.rep0+1, n)
}

// chunk ends the range coder and returns the LZMA2 chunk of control
// byte c (with props when c says so) declaring usize bytes.
func (e *lzEnc) chunk(c byte, usize int) []byte {
	for range 5 {
		e.shiftLow()
	}
	u, p := usize-1, len(e.out)-1
	b := []byte{c | byte(u>>16), byte(u >> 8), byte(u), byte(p >> 8), byte(p)}
	if c >= 0xC0 {
		b = append(b, byte(e.lc+e.lp*9+e.pb*45))
	}
	return append(b, e.out...)
}

// next starts the next chunk's range coder, the LZMA state carried on.
func (e *lzEnc) next() {
	e.low, e.rng, e.cache, e.cacheSize, e.out = 0, 0xFFFFFFFF, 0, 1, nil
}

func TestLZMAChunks(t *testing.T) {
	abc := func(e *lzEnc) { e.lit('a'); e.lit('b'); e.lit('c') }
	big := bytes.Repeat([]byte("0123456789abcdef"), 320) // 5120 bytes
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	one := func(lc, lp, pb uint32, hist []byte, usize int, f func(e *lzEnc)) []byte {
		e := newLZEnc(lc, lp, pb, hist)
		f(e)
		return e.chunk(0xE0, usize)
	}
	after := func(hist []byte, c byte, usize int, f func(e *lzEnc)) []byte {
		e := newLZEnc(0, 0, 0, hist)
		e.pos = uint32(len(hist))
		f(e)
		return e.chunk(c, usize)
	}
	cases := []struct {
		name string
		lz   []byte
		out  int
		want []byte // nil: corrupt
	}{
		{"literals", cat(one(3, 0, 2, nil, 3, abc), []byte{0}), 3, []byte("abc")},
		{"match-rep-short", cat(one(3, 0, 2, nil, 14, func(e *lzEnc) { abc(e); e.match(3, 6); e.lit('x'); e.repeat(3); e.repeat(1) }), []byte{0}), 14, []byte("abcabcabcxbcxb")},
		{"props-lc0-lp4-pb4", cat(one(0, 4, 4, nil, 11, func(e *lzEnc) { abc(e); e.match(1, 5); e.lit('z'); e.repeat(2) }), []byte{0}), 11, []byte("abcccccczzz")},
		{"far-match", cat(stored(big)[:len(stored(big))-1], after(big, 0xC0, 40, func(e *lzEnc) { e.match(4000, 40) }), []byte{0}), len(big) + 40, cat(big, big[len(big)-4000:][:40])},
		{"match-next-chunk", cat(one(3, 0, 2, nil, 3, abc), after([]byte("abc"), 0x80, 4, func(e *lzEnc) { e.state = 0; e.match(2, 4) }), []byte{0}), 7, []byte("abcbcbc")},
		{"match-at-dict-edge", cat(stored(big)[:len(stored(big))-1], after(big, 0xC0, 5, func(e *lzEnc) { e.match(4096, 5) }), []byte{0}), len(big) + 5, cat(big, big[len(big)-4096:][:5])},
		{"match-distance-1-first", cat(one(3, 0, 2, nil, 3, func(e *lzEnc) { e.lit('a'); e.match(1, 2) }), []byte{0}), 3, []byte("aaa")},

		{"match-before-output", cat(one(3, 0, 2, nil, 3, func(e *lzEnc) { e.lit('a'); e.match(2, 2) }), []byte{0}), 3, nil},
		{"match-first", cat(one(3, 0, 2, nil, 2, func(e *lzEnc) { e.match(1, 2) }), []byte{0}), 2, nil},
		{"rep-first", cat(one(3, 0, 2, nil, 2, func(e *lzEnc) { e.repeat(2) }), []byte{0}), 2, nil},
		{"shortrep-first", cat(one(3, 0, 2, nil, 1, func(e *lzEnc) { e.repeat(1) }), []byte{0}), 1, nil},
		{"match-past-dict", cat(stored(big)[:len(stored(big))-1], after(big, 0xC0, 5, func(e *lzEnc) { e.match(4097, 5) }), []byte{0}), len(big) + 5, nil},
		{"match-across-dict-reset", cat(one(3, 0, 2, nil, 3, abc), after([]byte("abc"), 0xE0, 2, func(e *lzEnc) { e.pos = 0; e.match(3, 2) }), []byte{0}), 5, nil},
		{"match-past-chunk", cat(one(3, 0, 2, nil, 4, func(e *lzEnc) { e.lit('a'); e.match(1, 5) }), []byte{0}), 6, nil},
		// The match's bytes past its chunk would be those the next chunk
		// decodes: the sizes add up, only the chunk's bound catches it.
		{"match-into-next-chunk", cat(one(0, 0, 0, nil, 4, func(e *lzEnc) { e.lit('a'); e.match(1, 5) }), after([]byte("aaaa"), 0xA0, 2, func(e *lzEnc) { e.lit('b'); e.lit('c') }), []byte{0}), 6, nil},
		{"match-past-block", cat(one(3, 0, 2, nil, 6, func(e *lzEnc) { e.lit('a'); e.match(1, 5) }), []byte{0}), 4, nil},
		{"end-marker-in-chunk", cat(one(3, 0, 2, nil, 3, func(e *lzEnc) { e.lit('a'); e.match(0, 2) }), []byte{0}), 3, nil},
		{"chunk-short", cat(one(3, 0, 2, nil, 2, abc), []byte{0}), 3, nil},
	}
	// Raw edits of a good chunk: header fields and range coder start.
	good := one(3, 0, 2, nil, 3, abc) // 0xE0, usize, psize, props, data
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	raw := []struct {
		name string
		lz   []byte
	}{
		{"no-dict-reset", edit(func(b []byte) []byte { b[0] = 0xC0; return append(b, 0) })},
		{"stored-no-dict-reset", []byte{2, 0, 2, 'a', 'b', 'c', 0}},
		{"no-props-after-stored-reset", cat([]byte{1, 0, 0, 'a'}, edit(func(b []byte) []byte { b[0] = 0xA0; return append(b[:5], b[6:]...) }), []byte{0})},
		{"lc-lp-over-4", edit(func(b []byte) []byte { b[5] = 3 + 2*9; return append(b, 0) })},
		{"props-225", edit(func(b []byte) []byte { b[5] = 225; return append(b, 0) })},
		{"rc-first-byte", edit(func(b []byte) []byte { b[6] = 1; return append(b, 0) })},
		{"rc-code-ffffffff", edit(func(b []byte) []byte { copy(b[6:], []byte{0, 0xFF, 0xFF, 0xFF, 0xFF}); return append(b, 0) })},
		{"psize-extra-byte", edit(func(b []byte) []byte { b[4]++; return append(b, 0, 0) })},
		{"psize-past-input", edit(func(b []byte) []byte { b[4] += 10; return append(b, 0) })},
		{"control-3", []byte{1, 0, 0, 'a', 3, 0, 0, 'b', 0}},
		{"truncated-header", good[:3]},
		{"no-end-marker", good},
		{"data-after-end", append(append(bytes.Clone(good), 0), 0)},
		{"stored-past-block", []byte{1, 0, 5, 'a', 'b', 'c', 0}},
	}
	for _, r := range raw {
		cases = append(cases, struct {
			name string
			lz   []byte
			out  int
			want []byte
		}{r.name, r.lz, 3, nil})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := make([]byte, c.out)
			err := decodeLZMA2(new(lzma), new(rangeDec), c.lz, out, 4096)
			if c.want == nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("got %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, c.want) {
				t.Fatalf("decoded %q, want %q", out, c.want)
			}
			r, err := ulzma.Reader2Config{DictCap: 4096}.NewReader2(bytes.NewReader(c.lz))
			if err != nil {
				t.Fatal(err)
			}
			if u, err := io.ReadAll(r); err != nil || !bytes.Equal(u, c.want) {
				t.Fatalf("ulikunitz decodes %q, %v", u, err)
			}
		})
	}
}
