package xzdec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"math"
	"runtime"
	"slices"
	"sync"
)

var (
	// ErrCorrupt is an xz file that does not decode: damaged or hostile.
	ErrCorrupt = errors.New("corrupt xz data")
	// ErrUnsupported is a valid xz file using what this decoder does not
	// do (another filter, another check); a general decoder may.
	ErrUnsupported = errors.New("xz feature not supported by this decoder")
	// ErrTooLarge is output over Options.Limit.
	ErrTooLarge = errors.New("xz data over the allowed size")
	// ErrDictTooLarge is a dictionary over Options.MaxDict.
	ErrDictTooLarge = errors.New("xz dictionary over the allowed size")
)

func corruptf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

func unsupportedf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, a...))
}

// Options bound a decode.
type Options struct {
	// Limit is the most bytes the file may decompress to, as its index
	// declares them (checked before anything is allocated); each block
	// counts as 1 KiB at least, which bounds the memory its bookkeeping
	// takes too.
	Limit uint64
	// MaxDict is the largest LZMA2 dictionary a block may declare.
	MaxDict uint32
	// Workers is how many blocks decode at once (0: GOMAXPROCS).
	Workers int
	// Alloc, when set, returns the output buffer of n bytes (its
	// contents are overwritten); else it is allocated.
	Alloc func(n int) []byte
}

const (
	headerLen  = 12
	footerLen  = 12
	checkNone  = 0
	checkCRC32 = 1
	checkCRC64 = 4
	filterLZMA = 0x21
	// maxOutput is 64 TiB, within any int and any 64-bit address space.
	maxOutput = min(math.MaxInt, 1<<46)
	// blockCost is what each block counts against Options.Limit at
	// least: a block's bookkeeping is over a hundred bytes while an
	// empty block takes 16 bytes of input, so a file of empty blocks
	// would otherwise cost many times its size with no output at all.
	// Real blocks are far larger (repofs writes 256 KiB and up).
	blockCost = 1 << 10
)

var (
	magic     = []byte("\xfd7zXZ\x00")
	crc64Tab  = crc64.MakeTable(crc64.ECMA)
	errNoData = corruptf("no xz stream")
)

// block is one block of the file: where it is and what it decodes to.
type block struct {
	at       int    // offset of its header in the file
	unpadded uint64 // header, data and check, as the index says
	size     uint64 // uncompressed, as the index says
	out      []byte // its place in the output
	check    byte
}

// Decode decodes the xz file in, whole.
func Decode(in []byte, o Options) ([]byte, error) {
	var streams [][]block     // last stream first
	var total, charged uint64 // output bytes, and those plus block costs
	nblocks := 0
	// The output is one slice, which make refuses (with a panic) past
	// the address space: whatever the caller allows, larger is too large.
	o.Limit = min(o.Limit, maxOutput)
	end := len(in)
	for end > 0 {
		// Stream padding: zeros, in fours (a footer ends in "YZ").
		pad := end
		for pad > 0 && in[pad-1] == 0 {
			pad--
		}
		if (end-pad)%4 != 0 {
			return nil, corruptf("stream padding of %d bytes", end-pad)
		}
		if end = pad; end == 0 {
			return nil, errNoData
		}
		bs, start, cost, err := readStream(in, end, o.Limit-charged)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			total += b.size
		}
		charged += cost
		nblocks += len(bs)
		streams = append(streams, bs)
		end = start
	}
	if len(streams) == 0 {
		return nil, errNoData
	}
	var out []byte
	if o.Alloc != nil {
		if out = o.Alloc(int(total)); uint64(len(out)) != total {
			return nil, fmt.Errorf("xzdec: Alloc(%d) returned %d bytes", total, len(out))
		}
	} else {
		out = make([]byte, total)
	}
	blocks := make([]block, 0, nblocks)
	off := 0
	for i := len(streams) - 1; i >= 0; i-- {
		for _, b := range streams[i] {
			n := int(b.size)
			b.out = out[off : off+n : off+n]
			off += n
			blocks = append(blocks, b)
		}
	}
	if err := decodeBlocks(in, blocks, o); err != nil {
		return nil, err
	}
	return out, nil
}

// readStream reads the stream ending at end: its footer, index and
// header. It returns the stream's blocks, its start and what it counts
// against limit (its output and its blocks' cost).
func readStream(in []byte, end int, limit uint64) ([]block, int, uint64, error) {
	if end < headerLen+footerLen {
		return nil, 0, 0, corruptf("xz stream of %d bytes", end)
	}
	f := in[end-footerLen : end]
	if string(f[10:]) != "YZ" {
		return nil, 0, 0, corruptf("no xz stream footer")
	}
	if crc32.ChecksumIEEE(f[4:10]) != binary.LittleEndian.Uint32(f[:4]) {
		return nil, 0, 0, corruptf("xz stream footer CRC32")
	}
	flags := f[8:10]
	if flags[0] != 0 || flags[1]&0xF0 != 0 {
		return nil, 0, 0, unsupportedf("xz stream flags %#x", flags)
	}
	check := flags[1]
	if check != checkNone && check != checkCRC32 && check != checkCRC64 {
		return nil, 0, 0, unsupportedf("xz check type %d", check)
	}
	indexLen := (uint64(binary.LittleEndian.Uint32(f[4:8])) + 1) * 4
	if indexLen > uint64(end-footerLen-headerLen) {
		return nil, 0, 0, corruptf("xz index of %d bytes in a stream of %d", indexLen, end)
	}
	indexAt := end - footerLen - int(indexLen)
	// A block takes eight bytes at least: no more records than fit.
	recs, err := readIndex(in[indexAt:end-footerLen], uint64(indexAt-headerLen)/8)
	if err != nil {
		return nil, 0, 0, err
	}
	// The blocks lie before the index, each padded to four bytes.
	var size uint64
	for _, r := range recs {
		size += (r[0] + 3) &^ 3
		if size > uint64(indexAt-headerLen) {
			return nil, 0, 0, corruptf("xz index with blocks larger than the stream")
		}
	}
	start := indexAt - int(size) - headerLen
	h := in[start : start+headerLen]
	if !bytes.Equal(h[:6], magic) {
		return nil, 0, 0, corruptf("xz stream header missing")
	}
	if crc32.ChecksumIEEE(h[6:8]) != binary.LittleEndian.Uint32(h[8:12]) {
		return nil, 0, 0, corruptf("xz stream header CRC32")
	}
	if !bytes.Equal(h[6:8], flags) {
		return nil, 0, 0, corruptf("xz stream header and footer flags differ")
	}
	var total uint64
	for _, r := range recs {
		// Compared before adding: declared sizes near 2^63 would wrap.
		if max(r[1], blockCost) > limit-total {
			return nil, 0, 0, fmt.Errorf("%w: xz index declares more than %d bytes", ErrTooLarge, limit)
		}
		total += max(r[1], blockCost)
	}
	bs := make([]block, len(recs))
	at := start + headerLen
	for i, r := range recs {
		bs[i] = block{at: at, unpadded: r[0], size: r[1], check: check}
		at += int((r[0] + 3) &^ 3)
	}
	return bs, start, total, nil
}

// readIndex reads an index: its records' unpadded and uncompressed sizes.
// At most maxRecs records are allowed.
func readIndex(x []byte, maxRecs uint64) ([][2]uint64, error) {
	if len(x) < 8 || x[0] != 0 {
		return nil, corruptf("xz index missing")
	}
	if crc32.ChecksumIEEE(x[:len(x)-4]) != binary.LittleEndian.Uint32(x[len(x)-4:]) {
		return nil, corruptf("xz index CRC32")
	}
	body := x[1 : len(x)-4]
	count, n, ok := uvarint(body)
	if !ok || count > uint64(len(body))/2 || count > maxRecs {
		return nil, corruptf("xz index record count")
	}
	body = body[n:]
	recs := make([][2]uint64, count)
	for i := range recs {
		for j := range 2 {
			v, n, ok := uvarint(body)
			if !ok {
				return nil, corruptf("xz index record %d", i)
			}
			recs[i][j] = v
			body = body[n:]
		}
		if recs[i][0] < 5 || recs[i][0] > 1<<62 {
			return nil, corruptf("xz index record %d: unpadded size %d", i, recs[i][0])
		}
	}
	if used := len(x) - 4 - len(body); len(body) != (4-used%4)%4 {
		return nil, corruptf("xz index padding")
	}
	for _, b := range body {
		if b != 0 {
			return nil, corruptf("xz index padding")
		}
	}
	return recs, nil
}

// uvarint reads xz's variable-length integer: at most nine bytes, no
// needless trailing zero byte.
func uvarint(b []byte) (uint64, int, bool) {
	var v uint64
	for i := 0; i < 9 && i < len(b); i++ {
		v |= uint64(b[i]&0x7F) << (7 * i)
		if b[i]&0x80 == 0 {
			if b[i] == 0 && i > 0 {
				return 0, 0, false
			}
			return v, i + 1, true
		}
	}
	return 0, 0, false
}

func checkSize(id byte) int {
	switch id {
	case checkCRC32:
		return 4
	case checkCRC64:
		return 8
	}
	return 0
}

// decodeBlocks decodes the blocks on o.Workers cores, the largest first.
func decodeBlocks(in []byte, blocks []block, o Options) error {
	order := make([]int, len(blocks))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return int(blocks[b].unpadded>>1) - int(blocks[a].unpadded>>1)
	})
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(blocks))
	if workers <= 1 {
		s, r := new(lzma), new(rangeDec)
		for _, i := range order {
			if err := decodeBlock(s, r, in, &blocks[i], o.MaxDict); err != nil {
				return err
			}
		}
		return nil
	}
	var mu sync.Mutex
	var next int
	var firstErr error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			s, r := new(lzma), new(rangeDec)
			for {
				mu.Lock()
				if next >= len(order) || firstErr != nil {
					mu.Unlock()
					return
				}
				i := order[next]
				next++
				mu.Unlock()
				if err := decodeBlock(s, r, in, &blocks[i], o.MaxDict); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// decodeBlock decodes one block into b.out, checking its header, sizes,
// padding and check.
func decodeBlock(s *lzma, r *rangeDec, in []byte, b *block, maxDict uint32) error {
	x := in[b.at:]
	csize := checkSize(b.check)
	if uint64(len(x)) < b.unpadded || len(x) < 1 || x[0] == 0 {
		return corruptf("xz block header missing")
	}
	hlen := (int(x[0]) + 1) * 4
	if uint64(hlen+csize) >= b.unpadded {
		return corruptf("xz block header of %d bytes in a block of %d", hlen, b.unpadded)
	}
	h := x[:hlen]
	if crc32.ChecksumIEEE(h[:hlen-4]) != binary.LittleEndian.Uint32(h[hlen-4:]) {
		return corruptf("xz block header CRC32")
	}
	flags := h[1]
	if flags&0x3C != 0 {
		return unsupportedf("xz block flags %#x", flags)
	}
	if flags&3 != 0 {
		return unsupportedf("xz filter chain of %d filters (only LZMA2 alone)", flags&3+1)
	}
	dataLen := b.unpadded - uint64(hlen+csize)
	p := h[2 : hlen-4]
	if flags&0x40 != 0 {
		v, n, ok := uvarint(p)
		if !ok || v != dataLen {
			return corruptf("xz block compressed size disagrees with the index")
		}
		p = p[n:]
	}
	if flags&0x80 != 0 {
		v, n, ok := uvarint(p)
		if !ok || v != uint64(len(b.out)) {
			return corruptf("xz block uncompressed size disagrees with the index")
		}
		p = p[n:]
	}
	id, n, ok := uvarint(p)
	if !ok {
		return corruptf("xz block filter flags")
	}
	p = p[n:]
	if id != filterLZMA {
		return unsupportedf("xz filter %#x (only LZMA2)", id)
	}
	psize, n, ok := uvarint(p)
	if !ok || psize != 1 || len(p) < n+1 {
		return corruptf("xz LZMA2 filter properties")
	}
	d := p[n]
	for _, z := range p[n+1:] {
		if z != 0 {
			return corruptf("xz block header padding")
		}
	}
	if d > 40 {
		return corruptf("LZMA2 dictionary size code %d", d)
	}
	dict := uint32(0xFFFFFFFF)
	if d < 40 {
		dict = (2 | uint32(d)&1) << (d/2 + 11)
	}
	if dict > maxDict {
		return fmt.Errorf("%w: LZMA2 dictionary of %d bytes, over %d", ErrDictTooLarge, dict, maxDict)
	}
	data := x[hlen : uint64(hlen)+dataLen]
	if err := decodeLZMA2(s, r, data, b.out, dict); err != nil {
		return err
	}
	rest := x[uint64(hlen)+dataLen:]
	padLen := int((4 - dataLen%4) % 4)
	if len(rest) < padLen+csize {
		return corruptf("xz block check missing")
	}
	for _, z := range rest[:padLen] {
		if z != 0 {
			return corruptf("xz block padding")
		}
	}
	sum := rest[padLen : padLen+csize]
	switch b.check {
	case checkCRC32:
		if crc32.ChecksumIEEE(b.out) != binary.LittleEndian.Uint32(sum) {
			return corruptf("xz block CRC32 mismatch")
		}
	case checkCRC64:
		if crc64.Checksum(b.out, crc64Tab) != binary.LittleEndian.Uint64(sum) {
			return corruptf("xz block CRC64 mismatch")
		}
	}
	return nil
}
