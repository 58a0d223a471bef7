// Package inflate decodes a whole raw DEFLATE stream (RFC 1951) into a
// buffer of the size it decodes to, as an archive repository's .filez
// payload is: its header gives the size.
//
// A streaming decoder keeps a 32 KiB window and copies every byte through
// it; knowing the output's size, this one decodes straight into the
// output, which is its own window, reads its input 64 bits at a time and
// resolves most codes with a single table lookup. It decodes about twice as
// fast as compress/flate (see the benchmark), which matters to every read
// of an archive repository. It accepts exactly the streams compress/flate
// accepts (FuzzDecode checks that), and refuses output longer or shorter
// than the buffer and input left after the final block.
package inflate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// ErrCorrupt is wrapped by every error Decode returns.
var ErrCorrupt = errors.New("corrupt DEFLATE stream")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Decode decodes src, a raw DEFLATE stream that must end with its final
// block (only the padding bits of its last byte after it), into dst, which
// it must fill exactly.
func Decode(dst, src []byte) error {
	d := decoders.Get().(*decoder)
	defer func() {
		d.src, d.dst = nil, nil // not kept alive by the pool
		decoders.Put(d)
	}()
	d.reset(src, dst, true)
	if err := d.run(); err != nil {
		return err
	}
	if d.state != stateEnd {
		return corrupt("decodes to more than %d bytes", len(dst))
	}
	if d.out != len(dst) {
		return corrupt("decodes to %d bytes, want %d", d.out, len(dst))
	}
	return nil
}

// decoders are reused: a decoder holds 11 KiB of tables, which made Decode
// allocate more than the small files it decodes.
var decoders = sync.Pool{New: func() any { return new(decoder) }}

// Table entries: the number of bits a code takes (4 bits), its kind
// (4 bits), extra bits or a subtable's index bits (4 bits), and its value
// (16 bits: a literal, a base length or distance, or a subtable's start).
const (
	kindInvalid = iota
	kindLiteral
	kindBase // a length (litlen table) or a distance (distance table)
	kindEOB
	kindSub
)

func entry(bits, kind, extra, value uint32) uint32 {
	return bits | kind<<4 | extra<<8 | value<<16
}

const (
	litRoot  = 10
	distRoot = 8
	preRoot  = 7
	// Table sizes: the most any complete code needs at these root sizes
	// (zlib's enough: 1332 and 402), rounded up.
	litTableSize  = 1 << 11
	distTableSize = 1 << 9
)

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// The order in which a dynamic block sends its precode's lengths.
	precodeOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

func litPayload(sym int) (kind, extra, value uint32) {
	switch {
	case sym < 256:
		return kindLiteral, 0, uint32(sym)
	case sym == 256:
		return kindEOB, 0, 0
	case sym < 286:
		return kindBase, uint32(lengthExtra[sym-257]), uint32(lengthBase[sym-257])
	}
	return kindInvalid, 0, 0 // 286 and 287 have fixed codes but never occur
}

func distPayload(sym int) (kind, extra, value uint32) {
	if sym < 30 {
		return kindBase, uint32(distExtra[sym]), uint32(distBase[sym])
	}
	return kindInvalid, 0, 0
}

func prePayload(sym int) (kind, extra, value uint32) { return kindLiteral, 0, uint32(sym) }

// Each symbol's table entry but its bits, for build: a lookup, not a
// call through a func value per symbol.
var litPayloads, distPayloads, prePayloads = payloads(288, litPayload), payloads(32, distPayload), payloads(19, prePayload)

func payloads(n int, payload func(int) (kind, extra, value uint32)) []uint32 {
	t := make([]uint32, n)
	for sym := range t {
		kind, extra, value := payload(sym)
		t[sym] = entry(0, kind, extra, value)
	}
	return t
}

// The fixed block's tables, built once.
var fixedLit, fixedDist = func() (*[litTableSize]uint32, *[distTableSize]uint32) {
	var lens [320]uint8
	for i := range 288 {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	for i := 288; i < 320; i++ {
		lens[i] = 5
	}
	lit := new([litTableSize]uint32)
	dist := new([distTableSize]uint32)
	if err := build(lit[:], lens[:288], litRoot, litPayloads); err != nil {
		panic(err) // a constant table
	}
	if err := build(dist[:], lens[288:], distRoot, distPayloads); err != nil {
		panic(err)
	}
	return lit, dist
}()

// build fills table with the canonical Huffman code of lens: a root table
// of 1<<root entries indexed by the next root bits (codes are sent bit
// reversed), and subtables for longer codes, zlib's inflate_table layout.
// It refuses over-subscribed codes and incomplete ones, except a code of
// a single symbol (length 1), which compress/flate takes too (zlib only
// for lengths and distances, not for a precode: no encoder writes one);
// a code of no symbols at all gives a table of invalid entries.
func build(table []uint32, lens []uint8, root uint, payloads []uint32) error {
	var count [16]int
	for _, l := range lens {
		count[l]++
	}
	maxLen := 15
	for maxLen > 0 && count[maxLen] == 0 {
		maxLen--
	}
	clear(table[:1<<root])
	if maxLen == 0 {
		return nil
	}
	left := 1
	for l := 1; l <= 15; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return corrupt("over-subscribed Huffman code")
		}
	}
	if left > 0 && maxLen != 1 {
		return corrupt("incomplete Huffman code")
	}
	var offs [16]int
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	var sorted [320]uint16
	for sym, l := range lens {
		if l != 0 {
			sorted[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	length := 1
	for count[length] == 0 {
		length++
	}
	var (
		huff  uint // the current code, bit reversed
		curr  = root
		drop  uint
		low   = ^uint(0)
		mask  = uint(1)<<root - 1
		next  uint // start of the current (sub)table
		used  = uint(1) << root
		sizeC uint // size of the current table
	)
	for i := 0; ; i++ {
		here := uint32(uint(length)-drop) | payloads[sorted[i]]
		incr := uint(1) << (uint(length) - drop)
		sizeC = uint(1) << curr
		// Every entry whose low bits are the code: huff>>drop is less
		// than incr, so they all are in the current table.
		cur := table[next : next+sizeC]
		for j := huff >> drop; j < uint(len(cur)); j += incr {
			cur[j] = here
		}
		incr = 1 << (length - 1)
		for huff&incr != 0 {
			incr >>= 1
		}
		if incr != 0 {
			huff &= incr - 1
			huff += incr
		} else {
			huff = 0
		}
		count[length]--
		if count[length] == 0 {
			if length == maxLen {
				break
			}
			length = int(lens[sorted[i+1]])
		}
		if uint(length) > root && huff&mask != low {
			if drop == 0 {
				drop = root
			}
			next += sizeC
			curr = uint(length) - drop
			left := 1 << curr
			for int(curr+drop) < maxLen {
				left -= count[curr+drop]
				if left <= 0 {
					break
				}
				curr++
				left <<= 1
			}
			used += 1 << curr
			if used > uint(len(table)) {
				return corrupt("Huffman table too large")
			}
			clear(table[next : next+1<<curr])
			low = huff & mask
			table[low] = entry(uint32(root), kindSub, uint32(curr), uint32(next))
		}
	}
	return nil
}

type decoder struct {
	src  []byte
	in   int    // bytes of src loaded into bits (beyond len(src): zero padding)
	bits uint64 // loaded input, next bit lowest; above nb, bytes loaded again later
	nb   uint   // valid bits in bits
	// dst is the output (Decode) or the window (Reader): back-references
	// reach into it, up to out.
	dst   []byte
	out   int
	whole bool // dst is all the output there is: full is the end

	state               uint8
	final               bool                  // the current block is the last
	stored              int                   // bytes of a stored block left to copy
	matchLen, matchDist int                   // the rest of a match dst had no room for
	lit                 *[litTableSize]uint32 // arrays: masked indexes need no bounds check
	dist                *[distTableSize]uint32

	litT    [litTableSize]uint32
	distT   [distTableSize]uint32
	preT    [1 << preRoot]uint32
	lens    [320]uint8
	preLens [19]uint8
}

// reset readies d for a new stream into dst. The tables need no clearing:
// every block builds the ones it uses, and build clears what it fills.
func (d *decoder) reset(src, dst []byte, whole bool) {
	d.src, d.in, d.bits, d.nb = src, 0, 0, 0
	d.dst, d.out, d.whole = dst, 0, whole
	d.state, d.final, d.stored, d.matchLen, d.matchDist = stateBlock, false, 0, 0, 0
	d.lit, d.dist = nil, nil
}

const (
	stateBlock   = iota // at a block header, or the end after the final block
	stateStored         // copying a stored block
	stateHuffman        // decoding a compressed block's symbols
	stateEnd            // past the final block, input checked
)

// refill loads input until at least 56 bits are valid. Past the end of
// src it loads zeros; the end of the stream checks that no more was read
// than src holds.
func (d *decoder) refill() {
	if d.in+8 <= len(d.src) {
		// The bits above nb are the bytes the next load puts there
		// again: or-ing them in twice changes nothing.
		d.bits |= binary.LittleEndian.Uint64(d.src[d.in:]) << d.nb
		d.in += int(63-d.nb) >> 3
		d.nb |= 56
		return
	}
	for d.nb <= 56 {
		if d.in < len(d.src) {
			d.bits |= uint64(d.src[d.in]) << d.nb
		}
		d.in++
		d.nb += 8
	}
}

func (d *decoder) take(n uint) uint32 {
	v := uint32(d.bits & (1<<n - 1))
	d.bits >>= n
	d.nb -= n
	return v
}

// consumed is how many bits of input were decoded so far.
func (d *decoder) consumed() int { return d.in*8 - int(d.nb) }

// run decodes until the stream ends or dst is full.
func (d *decoder) run() error {
	for {
		switch d.state {
		case stateBlock:
			if d.consumed() > len(d.src)*8 {
				return corrupt("truncated")
			}
			if d.final {
				return d.end()
			}
			if err := d.header(); err != nil {
				return err
			}
		case stateStored:
			n := min(d.stored, len(d.dst)-d.out)
			if n == 0 {
				if d.whole {
					return corrupt("decodes to more than %d bytes", len(d.dst))
				}
				return nil
			}
			copy(d.dst[d.out:], d.src[d.in:d.in+n])
			d.out += n
			d.in += n
			if d.stored -= n; d.stored == 0 {
				d.state = stateBlock
			}
		case stateHuffman:
			done, err := d.huffman()
			if err != nil || !done {
				return err
			}
			d.state = stateBlock
		default:
			return nil
		}
	}
}

// header reads a block's header, and a dynamic block's tables.
func (d *decoder) header() error {
	d.refill()
	d.final = d.take(1) == 1
	switch d.take(2) {
	case 0:
		return d.storedHeader()
	case 1:
		d.lit, d.dist = fixedLit, fixedDist
	case 2:
		if err := d.dynamicTables(); err != nil {
			return err
		}
		d.lit, d.dist = &d.litT, &d.distT
	default:
		return corrupt("invalid block type")
	}
	d.state = stateHuffman
	return nil
}

// end checks, after the final block, that the input ends there.
func (d *decoder) end() error {
	if used := (d.consumed() + 7) / 8; used > len(d.src) {
		return corrupt("truncated")
	} else if used < len(d.src) {
		return corrupt("%d bytes after the final block", len(d.src)-used)
	}
	d.state = stateEnd
	return nil
}

// storedHeader starts a stored block: byte aligned, its length and the
// length's complement, then the bytes, which run copies.
func (d *decoder) storedHeader() error {
	d.take(d.nb % 8)
	pos := d.in - int(d.nb/8)
	d.bits, d.nb = 0, 0
	if pos+4 > len(d.src) {
		return corrupt("truncated")
	}
	n := int(binary.LittleEndian.Uint16(d.src[pos:]))
	if binary.LittleEndian.Uint16(d.src[pos+2:]) != ^uint16(n) {
		return corrupt("stored block length does not match its complement")
	}
	pos += 4
	if pos+n > len(d.src) {
		return corrupt("truncated")
	}
	d.in, d.stored = pos, n
	if n > 0 {
		d.state = stateStored
	}
	return nil
}

// dynamicTables reads a dynamic block's code lengths and builds its tables.
func (d *decoder) dynamicTables() error {
	d.refill()
	nlit := int(d.take(5)) + 257
	ndist := int(d.take(5)) + 1
	npre := int(d.take(4)) + 4
	if nlit > 286 || ndist > 30 {
		return corrupt("too many length or distance symbols")
	}
	d.preLens = [19]uint8{}
	for i := range npre {
		if i%16 == 0 {
			d.refill()
		}
		d.preLens[precodeOrder[i]] = uint8(d.take(3))
	}
	if err := build(d.preT[:], d.preLens[:], preRoot, prePayloads); err != nil {
		return err
	}
	lens := d.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		d.refill()
		e := d.preT[d.bits&(1<<preRoot-1)]
		if (e>>4)&15 == kindInvalid {
			return corrupt("invalid code length code")
		}
		d.take(uint(e & 15))
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return corrupt("repeat of no previous code length")
			}
			val, rep = lens[i-1], 3+int(d.take(2))
		case 17:
			rep = 3 + int(d.take(3))
		default:
			rep = 11 + int(d.take(7))
		}
		if i+rep > len(lens) {
			return corrupt("code lengths overrun their count")
		}
		for range rep {
			lens[i] = val
			i++
		}
	}
	if lens[256] == 0 {
		return corrupt("no end-of-block code")
	}
	if err := build(d.litT[:], lens[:nlit], litRoot, litPayloads); err != nil {
		return err
	}
	return build(d.distT[:], lens[nlit:], distRoot, distPayloads)
}

// huffman decodes a compressed block's symbols: it reports true at the
// block's end, false when dst is full (the next symbol left unread). The
// bit buffer lives in locals here, registers rather than memory: this loop
// is where the time goes.
func (d *decoder) huffman() (done bool, err error) {
	dst, out := d.dst, d.out
	if d.matchLen > 0 {
		n := min(d.matchLen, len(dst)-out)
		copyMatch(dst, out, d.matchDist, n)
		out += n
		if d.matchLen -= n; d.matchLen > 0 {
			d.out = out
			return false, nil
		}
	}
	lit, dist := d.lit, d.dist
	src := d.src
	bits, nb, in := d.bits, d.nb, d.in
	defer func() { d.out, d.bits, d.nb, d.in = out, bits, nb, in }()
	for {
		// 48 bits cover a length code (15), its extra bits (5), a
		// distance code (15) and its extra bits (13).
		if nb < 48 {
			if in+8 <= len(src) {
				bits |= binary.LittleEndian.Uint64(src[in:]) << nb
				in += int(63-nb) >> 3
				nb |= 56
			} else {
				// Near the end of the input, where the zeros refill
				// loads past it could otherwise decode forever.
				if in*8-int(nb) > len(src)*8 {
					return false, corrupt("truncated")
				}
				d.bits, d.nb, d.in = bits, nb, in
				d.refill()
				bits, nb, in = d.bits, d.nb, d.in
			}
		}
		e := lit[bits&(1<<litRoot-1)]
		if (e>>4)&15 == kindLiteral && uint(out) < uint(len(dst)) {
			// Most symbols are literals of the root table, whose codes
			// take at most litRoot bits: the 48 loaded hold this one and
			// two more, decoded here without the checks of the loop's
			// top. The entry looked at and not taken costs nothing.
			bits >>= e & 15
			nb -= uint(e & 15)
			dst[out] = byte(e >> 16)
			out++
			e = lit[bits&(1<<litRoot-1)]
			if (e>>4)&15 != kindLiteral || uint(out) >= uint(len(dst)) {
				continue
			}
			bits >>= e & 15
			nb -= uint(e & 15)
			dst[out] = byte(e >> 16)
			out++
			e = lit[bits&(1<<litRoot-1)]
			if (e>>4)&15 != kindLiteral || uint(out) >= uint(len(dst)) {
				continue
			}
			bits >>= e & 15
			nb -= uint(e & 15)
			dst[out] = byte(e >> 16)
			out++
			continue
		}
		if (e>>4)&15 == kindSub {
			e = lit[uint64(e>>16)+(bits>>litRoot)&(1<<((e>>8)&15)-1)]
			e += litRoot // the root's bits, taken with the subtable's
		}
		kind := (e >> 4) & 15
		if kind == kindLiteral && uint(out) < uint(len(dst)) {
			bits >>= e & 15
			nb -= uint(e & 15)
			dst[out] = byte(e >> 16)
			out++
			continue
		}
		if kind == kindEOB {
			bits >>= e & 15
			nb -= uint(e & 15)
			return true, nil
		}
		if kind == kindInvalid {
			return false, corrupt("invalid literal/length code")
		}
		if out >= len(dst) {
			if d.whole {
				return false, corrupt("decodes to more than %d bytes", len(dst))
			}
			return false, nil
		}
		bits >>= e & 15
		nb -= uint(e & 15)
		x := (e >> 8) & 15
		n := int(e>>16) + int(bits&(1<<x-1))
		bits >>= x
		nb -= uint(x)
		e = dist[bits&(1<<distRoot-1)]
		if (e>>4)&15 == kindSub {
			e = dist[uint64(e>>16)+(bits>>distRoot)&(1<<((e>>8)&15)-1)]
			e += distRoot
		}
		if (e>>4)&15 != kindBase {
			return false, corrupt("invalid distance code")
		}
		bits >>= e & 15
		nb -= uint(e & 15)
		x = (e >> 8) & 15
		dd := int(e>>16) + int(bits&(1<<x-1))
		bits >>= x
		nb -= uint(x)
		if dd > out {
			return false, corrupt("distance %d beyond the start of the output", dd)
		}
		if room := len(dst) - out; n > room {
			if d.whole {
				return false, corrupt("decodes to more than %d bytes", len(dst))
			}
			copyMatch(dst, out, dd, room)
			out += room
			d.matchLen, d.matchDist = n-room, dd
			return false, nil
		}
		if from := out - dd; dd >= 8 && out+n+8 <= len(dst) {
			// Eight bytes at a time, each chunk read from bytes written
			// already; up to seven bytes past the match, which the
			// output after it overwrites.
			for i := 0; i < n; i += 8 {
				binary.LittleEndian.PutUint64(dst[out+i:], binary.LittleEndian.Uint64(dst[from+i:]))
			}
		} else {
			copyMatch(dst, out, dd, n)
		}
		out += n
	}
}

// copyMatch copies n bytes from dd back in dst to out.
func copyMatch(dst []byte, out, dd, n int) {
	from := out - dd
	switch {
	case dd >= n:
		copy(dst[out:out+n], dst[from:from+n])
	case dd == 1:
		b := dst[from]
		w := dst[out : out+n]
		for i := range w {
			w[i] = b
		}
	default:
		// Overlapping: each byte copied may be one this copy wrote.
		w := dst[from : out+n]
		for i := dd; i < len(w); i++ {
			w[i] = w[i-dd]
		}
	}
}
