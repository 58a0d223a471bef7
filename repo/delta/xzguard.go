package delta

import (
	"bufio"
	"fmt"
	"io"
)

// MaxDictSize is the largest LZMA2 dictionary a part may declare. The xz
// decoder allocates whatever a block header asks for (up to 4 GiB) before
// it decodes a byte; ostree writes parts with preset 8's 32 MiB, and the
// largest xz preset (-9) uses 64 MiB.
const MaxDictSize = 64 << 20

// ErrDictTooLarge means a part's xz stream declares a dictionary over
// MaxDictSize. It is ErrInvalid too.
var ErrDictTooLarge = fmt.Errorf("%w: xz dictionary too large", ErrInvalid)

// xzGuard passes an xz stream through unchanged, following its framing
// (stream header, block headers, LZMA2 chunks, padding, check, index) to
// refuse a block header declaring an LZMA2 dictionary over max before the
// decoder sees it. Anything it does not understand it passes on as it is,
// for the decoder to reject.
type xzGuard struct {
	r       *bufio.Reader
	max     int64
	pending []byte // framing bytes read and checked, not yet returned
	pass    int64  // data bytes to return unexamined before the next frame
	state   int
	check   int64 // size of each block's check field
	comp    int64 // compressed bytes of the current block, for its padding
	err     error // returned once pending is empty
}

const (
	xzStreamHeader = iota
	xzBlockOrIndex
	xzChunk
	xzRest // index and footer, or framing not understood: pass all
)

func newXZGuard(r *bufio.Reader, max int64) *xzGuard { return &xzGuard{r: r, max: max} }

func (g *xzGuard) Read(p []byte) (int, error) {
	for len(g.pending) == 0 && g.pass == 0 && g.err == nil && g.state != xzRest {
		g.err = g.advance()
	}
	switch {
	case len(g.pending) > 0:
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	case g.pass > 0:
		n, err := g.r.Read(p[:min(int64(len(p)), g.pass)])
		g.pass -= int64(n)
		if g.state == xzChunk {
			g.comp += int64(n)
		}
		return n, err
	case g.err != nil:
		return 0, g.err
	}
	return g.r.Read(p)
}

// take reads n framing bytes into pending. A short read leaves what came
// in pending and the rest of the stream to the decoder.
func (g *xzGuard) take(n int) ([]byte, bool) {
	b := make([]byte, n)
	m, _ := io.ReadFull(g.r, b)
	g.pending = append(g.pending, b[:m]...)
	if m < n {
		g.state = xzRest
		return nil, false
	}
	return b, true
}

// advance reads the next frame: it fills pending, sets pass, or leaves
// the rest to the decoder.
func (g *xzGuard) advance() error {
	switch g.state {
	case xzStreamHeader:
		h, ok := g.take(12)
		if !ok {
			return nil
		}
		g.check = checkSize(h[7] & 0x0f)
		g.state = xzBlockOrIndex
	case xzBlockOrIndex:
		b, ok := g.take(1)
		if !ok {
			return nil
		}
		if b[0] == 0 { // the index: nothing more to check
			g.state = xzRest
			return nil
		}
		h, ok := g.take(int(b[0])*4 + 3)
		if !ok {
			return nil
		}
		dict, ok := lzma2Dict(append(b, h...))
		if !ok {
			g.state = xzRest
			return nil
		}
		if dict > g.max {
			g.pending = nil
			return fmt.Errorf("%w: a block of the part declares %d MiB, over the %d MiB limit", ErrDictTooLarge, dict>>20, g.max>>20)
		}
		g.state, g.comp = xzChunk, 0
	case xzChunk:
		b, ok := g.take(1)
		if !ok {
			return nil
		}
		g.comp++
		c := b[0]
		switch {
		case c == 0: // end of the block's data: padding and check follow
			g.pass = (4-g.comp%4)%4 + g.check
			g.state = xzBlockOrIndex
		case c == 1 || c == 2: // uncompressed chunk
			s, ok := g.take(2)
			if !ok {
				return nil
			}
			g.comp += 2
			g.pass = int64(s[0])<<8 | int64(s[1]) + 1
		case c >= 0x80: // LZMA chunk: unpacked and packed sizes, maybe props
			n := 4
			if (c>>5)&3 >= 2 {
				n = 5
			}
			s, ok := g.take(n)
			if !ok {
				return nil
			}
			g.comp += int64(n)
			g.pass = int64(s[2])<<8 | int64(s[3]) + 1
		default:
			g.state = xzRest
		}
	}
	return nil
}

// checkSize is the size of the check field for an xz stream's check ID.
func checkSize(id byte) int64 {
	if id == 0 {
		return 0
	}
	return 4 << ((id - 1) / 3)
}

// lzma2Dict reads the dictionary size of a block header's LZMA2 filter.
// false: no such filter, or a header it cannot read.
func lzma2Dict(h []byte) (int64, bool) {
	d, _, ok := lzma2DictAt(h)
	return d, ok
}

// lzma2DictAt is lzma2Dict, and where in h the size's code is.
func lzma2DictAt(h []byte) (int64, int, bool) {
	if len(h) < 2 {
		return 0, 0, false
	}
	flags := h[1]
	rest := h[2:]
	varint := func() (uint64, bool) {
		var v uint64
		for i := 0; i < 9 && i < len(rest); i++ {
			b := rest[i]
			v |= uint64(b&0x7f) << (7 * i)
			if b&0x80 == 0 {
				rest = rest[i+1:]
				return v, true
			}
		}
		return 0, false
	}
	for _, bit := range []byte{0x40, 0x80} { // compressed, uncompressed size
		if flags&bit != 0 {
			if _, ok := varint(); !ok {
				return 0, 0, false
			}
		}
	}
	for range int(flags&3) + 1 {
		id, ok := varint()
		if !ok {
			return 0, 0, false
		}
		n, ok := varint()
		if !ok || uint64(len(rest)) < n {
			return 0, 0, false
		}
		props := rest[:n]
		rest = rest[n:]
		if id == 0x21 && n == 1 {
			c := props[0]
			if c > 40 {
				return 0, 0, false
			}
			at := len(h) - len(rest) - 1
			if c == 40 {
				return 1<<32 - 1, at, true
			}
			return int64(2|c&1) << (c/2 + 11), at, true
		}
	}
	return 0, 0, false
}
