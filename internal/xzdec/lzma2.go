package xzdec

import "encoding/binary"

// decodeLZMA2 decodes the LZMA2 data in (exactly: its end marker is its
// last byte) into out, which it must fill exactly. Matches reach back at
// most dictSize bytes.
func decodeLZMA2(s *lzma, r *rangeDec, in, out []byte, dictSize uint32) error {
	pos, dictStart := 0, 0
	needDict, needProps := true, true
	i := 0
	for {
		if i >= len(in) {
			return corruptf("LZMA2 data without its end marker")
		}
		c := in[i]
		i++
		if c == 0 {
			if i != len(in) {
				return corruptf("LZMA2 end marker %d bytes before the block's end", len(in)-i)
			}
			if pos != len(out) {
				return corruptf("block of %d bytes, its index says %d", pos, len(out))
			}
			return nil
		}
		if c >= 0xE0 || c == 1 {
			needProps, needDict = true, false
			dictStart = pos
		} else if needDict {
			return corruptf("LZMA2 data without a dictionary reset first")
		}
		if c < 0x80 {
			if c > 2 {
				return corruptf("LZMA2 control byte %#x", c)
			}
			if len(in)-i < 2 {
				return corruptf("truncated LZMA2 chunk")
			}
			n := int(binary.BigEndian.Uint16(in[i:])) + 1
			i += 2
			if n > len(in)-i || n > len(out)-pos {
				return corruptf("uncompressed LZMA2 chunk of %d bytes past the block's end", n)
			}
			copy(out[pos:], in[i:i+n])
			i += n
			pos += n
			continue
		}
		if len(in)-i < 4 {
			return corruptf("truncated LZMA2 chunk")
		}
		usize := int(c&0x1F)<<16 + int(binary.BigEndian.Uint16(in[i:])) + 1
		psize := int(binary.BigEndian.Uint16(in[i+2:])) + 1
		i += 4
		switch reset := (c >> 5) & 3; {
		case reset >= 2:
			if i >= len(in) {
				return corruptf("truncated LZMA2 chunk")
			}
			p := uint32(in[i])
			i++
			if p >= 9*5*5 {
				return corruptf("LZMA properties byte %#x", p)
			}
			lc, lp, pb := p%9, p/9%5, p/45
			if lc+lp > maxLiteralBits {
				return corruptf("LZMA2 literal bits lc=%d lp=%d over 4", lc, lp)
			}
			s.reset(lc, lp, pb)
			needProps = false
		case needProps:
			return corruptf("LZMA2 chunk without properties")
		case reset == 1:
			s.reset(s.lc, s.lp, s.pb)
		}
		if psize > len(in)-i || usize > len(out)-pos {
			return corruptf("LZMA2 chunk past the block's end")
		}
		if !r.init(in[i : i+psize]) {
			return corruptf("LZMA2 chunk with a bad range coder start")
		}
		if err := s.decode(r, out, pos, pos+usize, dictStart, dictSize); err != nil {
			return err
		}
		r.normalize()
		if int(r.pos) != psize || r.code != 0 {
			return corruptf("LZMA2 chunk of %d bytes used %d", psize, r.pos)
		}
		i += psize
		pos += usize
	}
}
