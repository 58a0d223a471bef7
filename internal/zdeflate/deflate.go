// Package zdeflate writes raw DEFLATE streams byte for byte as zlib 1.2.13
// does with deflateInit2(level 4…9, Z_DEFLATED, -15, memLevel 8,
// Z_DEFAULT_STRATEGY), fed without flushes and finished with Z_FINISH: the
// stream GLib's GZlibCompressor (G_ZLIB_COMPRESSOR_FORMAT_RAW) gives ostree
// for the payload of an archive repository's .filez objects.
//
// Other compressors (compress/flate, klauspost) make valid streams of
// other sizes; where the compressed size is recorded — the ostree.sizes
// commit metadata — only zlib's own stream reproduces ostree's commit.
//
// The algorithm is zlib's "lazy" matcher (deflate_slow): a 32 KiB window
// in a 64 KiB buffer, hash chains over 3-byte strings (15 hash bits, shift
// 5), a match taken only when the next position's is not longer, blocks
// ended after 16383 symbols, each sent stored, with the fixed codes or
// with Huffman codes built by zlib's heap (ties broken by subtree depth)
// and its bit-length overflow repair, whichever is shortest as zlib
// estimates it. Levels 1…3 (zlib's deflate_fast) are not implemented.
package zdeflate

import (
	"encoding/binary"
	"errors"
	"io"
	"math/bits"
)

const (
	wBits      = 15
	wSize      = 1 << wBits
	wMask      = wSize - 1
	windowSize = 2 * wSize
	hashBits   = 15 // memLevel 8 + 7
	hashSize   = 1 << hashBits
	hashMask   = hashSize - 1
	hashShift  = (hashBits + minMatch - 1) / minMatch
	minMatch   = 3
	maxMatch   = 258
	minLook    = maxMatch + minMatch + 1
	maxDist    = wSize - minLook
	tooFar     = 4096
	litBufSize = 1 << (8 + 6)
	symEnd     = litBufSize - 1 // symbols per block at most
	winInit    = maxMatch
)

// levelConfig is zlib's configuration_table row for a level.
type levelConfig struct{ good, lazy, nice, chain int }

var configs = [10]levelConfig{
	4: {4, 4, 16, 16},
	5: {8, 16, 32, 32},
	6: {8, 16, 128, 128},
	7: {8, 32, 128, 256},
	8: {32, 128, 258, 1024},
	9: {32, 258, 258, 4096},
}

// ErrLevel is returned for a level this package does not implement.
var ErrLevel = errors.New("zdeflate: only levels 4 to 9 are implemented")

// Writer compresses what is written to it into w; Close ends the stream.
type Writer struct {
	w   io.Writer
	cfg levelConfig
	err error

	window    [windowSize + maxMatch + 8]byte // the slack keeps comparisons in bounds
	prev      [wSize]uint16
	head      [hashSize]uint16
	highWater int

	in []byte // input not yet taken into the window

	insH                               int
	strStart, blockStart, lookahead    int
	matchLength, prevMatch, prevLength int
	matchAvailable                     bool
	matchStart, insert                 int
	syms                               []sym
	ltree                              [heapSize]node
	dtree                              [2*dCodes + 1]node
	bltree                             [2*blCodes + 1]node
	heap                               [2*lCodes + 1]int
	heapLen, heapMax                   int
	depth                              [2*lCodes + 1]uint8
	blCount                            [maxBits + 1]int
	optLen, staticLen                  int
	bits                               uint64
	nbits                              uint
	out                                []byte
	closed                             bool
	lDesc, dDesc, blDesc               treeDesc
}

type sym struct {
	dist uint16 // 0: a literal
	lc   uint8  // the literal, or match length - 3
}

// NewWriter returns a Writer compressing at level (4…9) into w.
func NewWriter(w io.Writer, level int) (*Writer, error) {
	if level < 4 || level > 9 {
		return nil, ErrLevel
	}
	z := &Writer{}
	z.Reset(w, level)
	return z, nil
}

// Reset makes z a new stream into w at level, as NewWriter does, keeping
// its buffers.
func (z *Writer) Reset(w io.Writer, level int) {
	// Like zlib, only the hash heads need clearing: the window past the
	// data is zeroed as it is reached (highWater), chain links are
	// written before they are read.
	clear(z.head[:])
	z.w, z.cfg, z.err, z.in, z.closed = w, configs[level], nil, nil, false
	if level < 4 || level > 9 {
		z.err = ErrLevel
	}
	z.highWater, z.insH, z.strStart, z.blockStart, z.lookahead = 0, 0, 0, 0, 0
	z.prevMatch, z.matchAvailable, z.matchStart, z.insert = 0, false, 0, 0
	z.syms, z.out, z.bits, z.nbits = z.syms[:0], z.out[:0], 0, 0
	z.matchLength, z.prevLength = minMatch-1, minMatch-1
	z.lDesc = treeDesc{dyn: z.ltree[:], stat: staticL[:], extra: extraLBits[:], base: literals + 1, elems: lCodes, maxLength: maxBits}
	z.dDesc = treeDesc{dyn: z.dtree[:], stat: staticD[:], extra: extraDBits[:], base: 0, elems: dCodes, maxLength: maxBits}
	z.blDesc = treeDesc{dyn: z.bltree[:], extra: extraBLBits[:], base: 0, elems: blCodes, maxLength: maxBLBits}
	z.initBlock()
}

// Write compresses p.
func (z *Writer) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if z.closed {
		return 0, errors.New("zdeflate: write after close")
	}
	z.in = p
	z.deflate(false)
	z.in = nil
	if err := z.flushOut(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close finishes the stream (Z_FINISH) and writes what is left.
func (z *Writer) Close() error {
	if z.err != nil || z.closed {
		return z.err
	}
	z.closed = true
	z.deflate(true)
	return z.flushOut()
}

func (z *Writer) flushOut() error {
	if len(z.out) == 0 {
		return nil
	}
	_, err := z.w.Write(z.out)
	z.out = z.out[:0]
	if err != nil {
		z.err = err
	}
	return err
}

// readBuf moves up to n bytes of input to window[at:].
func (z *Writer) readBuf(at, n int) int {
	if n > len(z.in) {
		n = len(z.in)
	}
	copy(z.window[at:at+n], z.in[:n])
	z.in = z.in[n:]
	return n
}

func (z *Writer) updateHash(h int, c byte) int { return ((h << hashShift) ^ int(c)) & hashMask }

// insertString enters the string at str in the hash chains and returns
// the previous head of its chain.
func (z *Writer) insertString(str int) int {
	z.insH = z.updateHash(z.insH, z.window[str+minMatch-1])
	h := int(z.head[z.insH])
	z.prev[str&wMask] = uint16(h)
	z.head[z.insH] = uint16(str)
	return h
}

func (z *Writer) slideHash() {
	for i, m := range z.head {
		if int(m) >= wSize {
			z.head[i] = m - wSize
		} else {
			z.head[i] = 0
		}
	}
	for i, m := range z.prev {
		if int(m) >= wSize {
			z.prev[i] = m - wSize
		} else {
			z.prev[i] = 0
		}
	}
}

// fillWindow reads input while the lookahead is short, sliding the
// window's upper half down when the position nears its end.
func (z *Writer) fillWindow() {
	for {
		more := windowSize - z.lookahead - z.strStart
		if z.strStart >= wSize+maxDist {
			copy(z.window[:wSize-more], z.window[wSize:2*wSize-more])
			z.matchStart -= wSize
			z.strStart -= wSize
			z.blockStart -= wSize
			if z.insert > z.strStart {
				z.insert = z.strStart
			}
			z.slideHash()
			more += wSize
		}
		if len(z.in) == 0 {
			break
		}
		n := z.readBuf(z.strStart+z.lookahead, more)
		z.lookahead += n
		if z.lookahead+z.insert >= minMatch {
			str := z.strStart - z.insert
			z.insH = int(z.window[str])
			z.insH = z.updateHash(z.insH, z.window[str+1])
			for z.insert > 0 {
				z.insH = z.updateHash(z.insH, z.window[str+minMatch-1])
				z.prev[str&wMask] = z.head[z.insH]
				z.head[z.insH] = uint16(str)
				str++
				z.insert--
				if z.lookahead+z.insert < minMatch {
					break
				}
			}
		}
		if z.lookahead >= minLook || len(z.in) == 0 {
			break
		}
	}
	// Zero the bytes after the data that were never written, as zlib
	// does: matches may compare into them.
	curr := z.strStart + z.lookahead
	if z.highWater < windowSize {
		if z.highWater < curr {
			init := windowSize - curr
			if init > winInit {
				init = winInit
			}
			clear(z.window[curr : curr+init])
			z.highWater = curr + init
		} else if z.highWater < curr+winInit {
			init := curr + winInit - z.highWater
			if init > windowSize-z.highWater {
				init = windowSize - z.highWater
			}
			clear(z.window[z.highWater : z.highWater+init])
			z.highWater += init
		}
	}
}

// longestMatch follows the hash chain from cur and returns the length of
// the longest match (matchStart its position).
func (z *Writer) longestMatch(cur int) int {
	chain := z.cfg.chain
	scan := z.strStart
	best := z.prevLength
	nice := z.cfg.nice
	limit := 0
	if z.strStart > maxDist {
		limit = z.strStart - maxDist
	}
	w := z.window[:]
	end1, end := w[scan+best-1], w[scan+best]
	if z.prevLength >= z.cfg.good {
		chain >>= 2
	}
	if nice > z.lookahead {
		nice = z.lookahead
	}
	for {
		m := cur
		if w[m+best] == end && w[m+best-1] == end1 && w[m] == w[scan] && w[m+1] == w[scan+1] {
			// Like zlib, the third bytes are taken as equal: they are
			// when the hashes are (a stale chain entry may differ).
			n := 3
			for n < maxMatch {
				x := binary.LittleEndian.Uint64(w[scan+n:]) ^ binary.LittleEndian.Uint64(w[m+n:])
				if x != 0 {
					n += bits.TrailingZeros64(x) / 8
					break
				}
				n += 8
			}
			n = min(n, maxMatch)
			if n > best {
				z.matchStart = cur
				best = n
				if n >= nice {
					break
				}
				end1, end = w[scan+best-1], w[scan+best]
			}
		}
		cur = int(z.prev[cur&wMask])
		if cur <= limit {
			break
		}
		chain--
		if chain == 0 {
			break
		}
	}
	if best <= z.lookahead {
		return best
	}
	return z.lookahead
}

// deflate runs zlib's deflate_slow over the input (finish: Z_FINISH).
func (z *Writer) deflate(finish bool) {
	for {
		if z.lookahead < minLook {
			z.fillWindow()
			if z.lookahead < minLook && !finish {
				return
			}
			if z.lookahead == 0 {
				break
			}
		}
		hashHead := 0
		if z.lookahead >= minMatch {
			hashHead = z.insertString(z.strStart)
		}
		z.prevLength, z.prevMatch = z.matchLength, z.matchStart
		z.matchLength = minMatch - 1
		if hashHead != 0 && z.prevLength < z.cfg.lazy && z.strStart-hashHead <= maxDist {
			z.matchLength = z.longestMatch(hashHead)
			if z.matchLength <= 5 && z.matchLength == minMatch && z.strStart-z.matchStart > tooFar {
				z.matchLength = minMatch - 1
			}
		}
		switch {
		case z.prevLength >= minMatch && z.matchLength <= z.prevLength:
			maxInsert := z.strStart + z.lookahead - minMatch
			flush := z.tally(z.strStart-1-z.prevMatch, z.prevLength-minMatch)
			z.lookahead -= z.prevLength - 1
			z.prevLength -= 2
			for {
				z.strStart++
				if z.strStart <= maxInsert {
					z.insertString(z.strStart)
				}
				z.prevLength--
				if z.prevLength == 0 {
					break
				}
			}
			z.matchAvailable = false
			z.matchLength = minMatch - 1
			z.strStart++
			if flush {
				z.flushBlock(false)
			}
		case z.matchAvailable:
			if z.tally(0, int(z.window[z.strStart-1])) {
				z.flushBlock(false)
			}
			z.strStart++
			z.lookahead--
		default:
			z.matchAvailable = true
			z.strStart++
			z.lookahead--
		}
	}
	if z.matchAvailable {
		z.tally(0, int(z.window[z.strStart-1]))
		z.matchAvailable = false
	}
	z.insert = min(z.strStart, minMatch-1)
	z.flushBlock(true)
}

// tally records a literal (dist 0) or a match (lc: length - 3) and
// reports whether the block is full.
func (z *Writer) tally(dist, lc int) bool {
	z.syms = append(z.syms, sym{uint16(dist), uint8(lc)})
	if dist == 0 {
		z.ltree[lc].freq++
	} else {
		dist--
		z.ltree[int(lengthCode[lc])+literals+1].freq++
		z.dtree[dCode(dist)].freq++
	}
	return len(z.syms) == symEnd
}

// flushBlock ends the current block at strStart.
func (z *Writer) flushBlock(last bool) {
	var buf []byte
	if z.blockStart >= 0 {
		buf = z.window[z.blockStart:z.strStart]
	}
	z.trFlushBlock(buf, z.strStart-z.blockStart, last)
	z.blockStart = z.strStart
}
