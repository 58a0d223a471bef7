package xzdec

import "encoding/binary"

// The LZMA decoder, as the LZMA specification describes it, for LZMA2
// chunks: the output slice is the whole dictionary.

const (
	numStates      = 12
	probBits       = 11
	probInit       = 1 << (probBits - 1)
	moveBits       = 5
	topValue       = 1 << 24
	endPosModel    = 14
	fullDistances  = 128
	alignBits      = 4
	minMatchLen    = 2
	literalCoder   = 0x300
	maxLiteralBits = 4 // lc + lp in LZMA2
)

// rangeDec is the range decoder of one LZMA chunk, whose bytes it has
// copied into buf: indexed with a mask, reads need no bounds check (and
// the bit decoder stays small enough to be inlined). Past the chunk's
// end it reads what buf holds; the chunk's end check (pos against the
// packed size) catches that.
type rangeDec struct {
	rng, code uint32
	pos       uint32
	buf       [rcBuf]byte
}

// rcBuf holds the largest packed LZMA2 chunk, 64 KiB, and its padding.
const rcBuf = 1 << 17

func (r *rangeDec) init(in []byte) bool {
	if len(in) < 5 || len(in) > rcBuf/2 || in[0] != 0 {
		return false
	}
	copy(r.buf[:], in)
	r.pos = 5
	r.rng, r.code = 0xFFFFFFFF, binary.BigEndian.Uint32(in[1:5])
	return r.code != 0xFFFFFFFF
}

// normalize reads a byte when the range is below 2^24; the bit decoders
// do so first, and the chunk's end once more.
func (r *rangeDec) normalize() {
	if r.rng < topValue {
		r.rng <<= 8
		r.code = r.code<<8 | uint32(r.buf[r.pos&(rcBuf-1)])
		r.pos++
	}
}

// bit decodes one bit with probability p.
func (r *rangeDec) bit(p *uint16) (b uint32) {
	if r.rng < topValue {
		r.rng <<= 8
		r.code = r.code<<8 | uint32(r.buf[r.pos&(rcBuf-1)])
		r.pos++
	}
	v := *p
	bound := (r.rng >> probBits) * uint32(v)
	if r.code < bound {
		r.rng = bound
		*p += (1<<probBits - v) >> moveBits
		return
	}
	r.rng -= bound
	r.code -= bound
	*p -= v >> moveBits
	return 1
}

// literal decodes the rest of a literal's bits, from sym (1 for a
// whole one), with the range decoder's state in locals and branch-free
// bit decisions: literal bits are the least predictable of all.
func (r *rangeDec) literal(probs *[literalCoder]uint16, sym uint32) uint32 {
	rng, code, pos := r.rng, r.code, r.pos
	for sym < 0x100 {
		if rng < topValue {
			rng <<= 8
			code = code<<8 | uint32(r.buf[pos&(rcBuf-1)])
			pos++
		}
		p := &probs[sym&0xFF]
		v := uint32(*p)
		bound := (rng >> probBits) * v
		// bit is 1 when code >= bound.
		bit := uint32((uint64(code)-uint64(bound))>>63 ^ 1)
		mask := -bit
		rng = bound&^mask | (rng-bound)&mask
		code -= bound & mask
		*p = uint16(v + ((1<<probBits-v)>>moveBits)&^mask - (v>>moveBits)&mask)
		sym = sym<<1 | bit
	}
	r.rng, r.code, r.pos = rng, code, pos
	return sym
}

// matched decodes a literal's first bits against the byte a match
// would have put there (mb), until they differ; the rest are decoded
// as a plain literal's.
func (r *rangeDec) matched(lit []uint16, mb uint32) uint32 {
	rng, code, pos := r.rng, r.code, r.pos
	sym := uint32(1)
	for sym < 0x100 {
		if rng < topValue {
			rng <<= 8
			code = code<<8 | uint32(r.buf[pos&(rcBuf-1)])
			pos++
		}
		mbit := (mb >> 7) & 1
		mb <<= 1
		p := &lit[((1+mbit)<<8+sym)&0x3FF]
		v := uint32(*p)
		bound := (rng >> probBits) * v
		bit := uint32((uint64(code)-uint64(bound))>>63 ^ 1)
		mask := -bit
		rng = bound&^mask | (rng-bound)&mask
		code -= bound & mask
		*p = uint16(v + ((1<<probBits-v)>>moveBits)&^mask - (v>>moveBits)&mask)
		sym = sym<<1 | bit
		if mbit != bit {
			break
		}
	}
	r.rng, r.code, r.pos = rng, code, pos
	return sym
}

// tree decodes n bits, most significant first, with the bit tree probs,
// as literal does.
func (r *rangeDec) tree(probs []uint16, n uint) uint32 {
	rng, code, pos := r.rng, r.code, r.pos
	m := uint32(1)
	for range n {
		if rng < topValue {
			rng <<= 8
			code = code<<8 | uint32(r.buf[pos&(rcBuf-1)])
			pos++
		}
		p := &probs[m]
		v := uint32(*p)
		bound := (rng >> probBits) * v
		bit := uint32((uint64(code)-uint64(bound))>>63 ^ 1)
		mask := -bit
		rng = bound&^mask | (rng-bound)&mask
		code -= bound & mask
		*p = uint16(v + ((1<<probBits-v)>>moveBits)&^mask - (v>>moveBits)&mask)
		m = m<<1 | bit
	}
	r.rng, r.code, r.pos = rng, code, pos
	return m - 1<<n
}

// reverse decodes n bits, least significant first.
func (r *rangeDec) reverse(probs []uint16, n uint32) uint32 {
	m, sym := uint32(1), uint32(0)
	for i := range n {
		b := r.bit(&probs[m])
		m = m<<1 | b
		sym |= b << i
	}
	return sym
}

// direct decodes n bits of probability one half.
func (r *rangeDec) direct(n uint32) uint32 {
	var res uint32
	for range n {
		r.normalize()
		r.rng >>= 1
		r.code -= r.rng
		t := 0 - (r.code >> 31)
		r.code += r.rng & t
		res = res<<1 + t + 1
	}
	return res
}

type lenDecoder struct {
	choice, choice2 uint16
	low, mid        [1 << 4][8]uint16
	high            [256]uint16
}

func (l *lenDecoder) reset() {
	l.choice, l.choice2 = probInit, probInit
	for i := range l.low {
		fill(l.low[i][:])
		fill(l.mid[i][:])
	}
	fill(l.high[:])
}

// decode returns a match length less minMatchLen.
func (l *lenDecoder) decode(r *rangeDec, posState uint32) uint32 {
	if r.bit(&l.choice) == 0 {
		return r.tree(l.low[posState][:], 3)
	}
	if r.bit(&l.choice2) == 0 {
		return 8 + r.tree(l.mid[posState][:], 3)
	}
	return 16 + r.tree(l.high[:], 8)
}

// lzma is the LZMA state an LZMA2 stream carries from chunk to chunk.
type lzma struct {
	lc, lp, pb uint32
	state      uint32
	rep        [4]uint32
	isMatch    [numStates << 4]uint16
	isRep      [numStates]uint16
	isRepG0    [numStates]uint16
	isRepG1    [numStates]uint16
	isRepG2    [numStates]uint16
	isRep0Long [numStates << 4]uint16
	posSlot    [4][64]uint16
	posDec     [1 + fullDistances - endPosModel]uint16
	align      [1 << alignBits]uint16
	lenDec     lenDecoder
	repLenDec  lenDecoder
	literal    [literalCoder << maxLiteralBits]uint16
}

func fill(p []uint16) {
	for i := range p {
		p[i] = probInit
	}
}

// reset starts the state over with properties lc, lp, pb.
func (s *lzma) reset(lc, lp, pb uint32) {
	s.lc, s.lp, s.pb = lc, lp, pb
	s.state = 0
	s.rep = [4]uint32{}
	fill(s.isMatch[:])
	fill(s.isRep[:])
	fill(s.isRepG0[:])
	fill(s.isRepG1[:])
	fill(s.isRepG2[:])
	fill(s.isRep0Long[:])
	for i := range s.posSlot {
		fill(s.posSlot[i][:])
	}
	fill(s.posDec[:])
	fill(s.align[:])
	s.lenDec.reset()
	s.repLenDec.reset()
	fill(s.literal[:literalCoder<<(lc+lp)])
}

// decode decodes one LZMA chunk into out[pos:end]; out[dictStart:pos] is
// the dictionary, of which matches reach back at most dictSize bytes.
func (s *lzma) decode(r *rangeDec, out []byte, pos, end, dictStart int, dictSize uint32) error {
	pbMask := uint32(1)<<s.pb - 1
	lpMask := uint32(1)<<s.lp - 1
	lc := s.lc
	state := s.state
	rep0, rep1, rep2, rep3 := s.rep[0], s.rep[1], s.rep[2], s.rep[3]
	defer func() {
		s.state = state
		s.rep = [4]uint32{rep0, rep1, rep2, rep3}
	}()
	if end > len(out) {
		return corruptf("chunk past the block's size")
	}
	for pos < end {
		rel := uint32(pos - dictStart)
		posState := rel & pbMask
		if r.bit(&s.isMatch[state<<4|posState]) == 0 {
			prev := uint32(0)
			if pos > dictStart {
				prev = uint32(out[pos-1])
			}
			base := literalCoder * ((rel&lpMask)<<lc + prev>>(8-lc))
			lit := s.literal[base : base+literalCoder]
			sym := uint32(1)
			if state >= 7 {
				at := pos - int(rep0) - 1
				if at < dictStart {
					return corruptf("literal matched before the dictionary")
				}
				sym = r.matched(lit, uint32(out[at]))
			}
			sym = r.literal((*[literalCoder]uint16)(lit), sym)
			out[pos] = byte(sym)
			pos++
			switch {
			case state < 4:
				state = 0
			case state < 10:
				state -= 3
			default:
				state -= 6
			}
			continue
		}
		var length uint32
		if r.bit(&s.isRep[state]) != 0 {
			if pos == dictStart {
				return corruptf("repeated match in an empty dictionary")
			}
			if r.bit(&s.isRepG0[state]) == 0 {
				if r.bit(&s.isRep0Long[state<<4|posState]) == 0 {
					if rep0 >= rel {
						return corruptf("match distance %d past the dictionary's %d bytes", rep0+1, rel)
					}
					if state < 7 {
						state = 9
					} else {
						state = 11
					}
					out[pos] = out[pos-int(rep0)-1]
					pos++
					continue
				}
			} else {
				var dist uint32
				if r.bit(&s.isRepG1[state]) == 0 {
					dist = rep1
				} else {
					if r.bit(&s.isRepG2[state]) == 0 {
						dist = rep2
					} else {
						dist = rep3
						rep3 = rep2
					}
					rep2 = rep1
				}
				rep1 = rep0
				rep0 = dist
			}
			length = s.repLenDec.decode(r, posState)
			if state < 7 {
				state = 8
			} else {
				state = 11
			}
		} else {
			rep3, rep2, rep1 = rep2, rep1, rep0
			length = s.lenDec.decode(r, posState)
			if state < 7 {
				state = 7
			} else {
				state = 10
			}
			rep0 = s.distance(r, length)
			if rep0 == 0xFFFFFFFF {
				return corruptf("end marker inside an LZMA2 chunk")
			}
		}
		if rep0 >= rel || rep0 >= dictSize {
			return corruptf("match distance %d past the dictionary's %d bytes", uint64(rep0)+1, min(rel, dictSize))
		}
		n := int(length) + minMatchLen
		if n > end-pos {
			return corruptf("match of %d bytes past the chunk's end", n)
		}
		from := pos - int(rep0) - 1
		if int(rep0)+1 >= n {
			copy(out[pos:pos+n], out[from:from+n])
		} else {
			// Overlapping: the match repeats its last rep0+1 bytes.
			d := out[from : pos+n]
			for i := range n {
				d[int(rep0)+1+i] = d[i]
			}
		}
		pos += n
	}
	return nil
}

// distance decodes a match distance less one, for a match of length
// minMatchLen+length.
func (s *lzma) distance(r *rangeDec, length uint32) uint32 {
	slot := r.tree(s.posSlot[min(length, 3)][:], 6)
	if slot < 4 {
		return slot
	}
	nd := slot>>1 - 1
	dist := (2 | slot&1) << nd
	if slot < endPosModel {
		return dist + r.reverse(s.posDec[dist-slot:], nd)
	}
	dist += r.direct(nd-alignBits) << alignBits
	return dist + r.reverse(s.align[:], alignBits)
}
