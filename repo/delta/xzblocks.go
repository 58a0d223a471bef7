package delta

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"runtime"
	"sync"

	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Parallel decoding. An xz stream of several blocks (what EncodePart
// writes for payloads over a block) decodes block by block on every core:
// each block starts with a fresh LZMA2 state, and the stream's index gives
// where each begins and how much it decompresses to. Each block is handed
// to the ordinary decoder as a stream of its own (the stream's header, the
// block, a one-record index, a footer), so its check, sizes and dictionary
// bound are verified as a whole stream's are. Anything else (one block,
// stream padding, framing that does not add up) goes to the sequential
// decoder, which decides what is wrong with it.

// xzBlock is one block of a stream, rewrapped as a stream of its own.
type xzBlock struct {
	stream []byte
	size   int64 // uncompressed, as the index says
}

const (
	xzHeaderLen = 12
	xzFooterLen = 12
)

// splitXZ finds the blocks of a single xz stream from its index; false
// when it has fewer than two or does not frame as expected.
func splitXZ(x []byte) ([]xzBlock, bool) {
	n := len(x)
	if n < xzHeaderLen+xzFooterLen || string(x[:6]) != "\xfd7zXZ\x00" {
		return nil, false
	}
	header, footer := x[:xzHeaderLen], x[n-xzFooterLen:]
	flags := header[6:8]
	if string(footer[10:]) != "YZ" || !bytes.Equal(footer[8:10], flags) ||
		crc32.ChecksumIEEE(footer[4:10]) != binary.LittleEndian.Uint32(footer[:4]) {
		return nil, false
	}
	indexLen := (int64(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
	if indexLen > int64(n-xzHeaderLen-xzFooterLen) {
		return nil, false
	}
	indexAt := n - xzFooterLen - int(indexLen)
	index := x[indexAt : n-xzFooterLen]
	if index[0] != 0 || crc32.ChecksumIEEE(index[:len(index)-4]) != binary.LittleEndian.Uint32(index[len(index)-4:]) {
		return nil, false
	}
	recs := index[1 : len(index)-4]
	count, k := binary.Uvarint(recs)
	if k <= 0 || count < 2 || count > uint64(len(recs))/2 {
		return nil, false
	}
	recs = recs[k:]
	blocks := make([]xzBlock, 0, count)
	pos := int64(xzHeaderLen)
	for range count {
		unpadded, k1 := binary.Uvarint(recs)
		if k1 <= 0 {
			return nil, false
		}
		usize, k2 := binary.Uvarint(recs[k1:])
		if k2 <= 0 || unpadded == 0 || unpadded > uint64(indexAt) || usize > 1<<62 {
			return nil, false
		}
		recs = recs[k1+k2:]
		padded := (int64(unpadded) + 3) &^ 3
		if pos+padded > int64(indexAt) {
			return nil, false
		}
		blocks = append(blocks, xzBlock{stream: wrapBlock(header, x[pos:pos+padded], unpadded, usize), size: int64(usize)})
		pos += padded
	}
	if pos != int64(indexAt) || len(recs) > 3 || bytes.Count(recs, []byte{0}) != len(recs) {
		return nil, false
	}
	return blocks, true
}

// wrapBlock makes a stream of one block: header, the padded block, an
// index of it and a footer.
func wrapBlock(header, block []byte, unpadded, usize uint64) []byte {
	index := []byte{0}
	index = binary.AppendUvarint(index, 1)
	index = binary.AppendUvarint(index, unpadded)
	index = binary.AppendUvarint(index, usize)
	for len(index)%4 != 0 {
		index = append(index, 0)
	}
	index = binary.LittleEndian.AppendUint32(index, crc32.ChecksumIEEE(index))
	var footer [xzFooterLen]byte
	binary.LittleEndian.PutUint32(footer[4:8], uint32(len(index)/4-1))
	copy(footer[8:10], header[6:8])
	copy(footer[10:], "YZ")
	binary.LittleEndian.PutUint32(footer[:4], crc32.ChecksumIEEE(footer[4:10]))
	s := make([]byte, 0, len(header)+len(block)+len(index)+len(footer))
	s = append(append(append(append(s, header...), block...), index...), footer[:]...)
	shrinkDict(s[len(header):len(header)+len(block)], usize)
	return s
}

// shrinkDict lowers the LZMA2 dictionary a block's header declares to
// the block's uncompressed size, which the index gives: a block starts
// with an empty dictionary, so no match reaches further back than that,
// and the decoder allocates (and the kernel zeroes) the whole declared
// dictionary up front, 8 MiB per block as ulikunitz/xz writes them,
// several times the block itself. A header it cannot read, or a
// dictionary over MaxDictSize (the guard refuses it), stays as it is.
func shrinkDict(block []byte, usize uint64) {
	if len(block) < 1 || block[0] == 0 {
		return
	}
	n := (int(block[0]) + 1) * 4
	if len(block) < n {
		return
	}
	h := block[:n]
	dict, at, ok := lzma2DictAt(h[:n-4])
	if !ok || dict > MaxDictSize || binary.LittleEndian.Uint32(h[n-4:]) != crc32.ChecksumIEEE(h[:n-4]) {
		return
	}
	code := lzma.EncodeDictCap(int64(max(usize, lzma.MinDictCap)))
	if code >= h[at] {
		return
	}
	h[at] = code
	binary.LittleEndian.PutUint32(h[n-4:], crc32.ChecksumIEEE(h[:n-4]))
}

// errSequential: the stream is left to the sequential decoder.
var errSequential = errors.New("xz stream not decoded in parallel")

// decodeBlocks decodes the blocks into one payload, at most limit bytes
// (and at most memLimit: larger payloads spill to a file, sequentially).
func decodeBlocks(blocks []xzBlock, limit uint64) ([]byte, error) {
	var total int64
	for _, b := range blocks {
		total += b.size
		if total > int64(memLimit) || uint64(total) > limit {
			return nil, errSequential
		}
	}
	out := make([]byte, total)
	offs := make([]int64, len(blocks))
	for i := 1; i < len(blocks); i++ {
		offs[i] = offs[i-1] + blocks[i-1].size
	}
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for range min(runtime.GOMAXPROCS(0), len(blocks)) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := firstErr != nil
				mu.Unlock()
				if i >= len(blocks) || stop {
					return
				}
				b := blocks[i]
				if err := decodeBlock(b.stream, out[offs[i]:offs[i]+b.size]); err != nil {
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
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// decodeBlock decodes a one-block stream that must fill out exactly.
func decodeBlock(stream, out []byte) error {
	xr, err := xz.NewReader(newXZGuard(bufio.NewReaderSize(bytes.NewReader(stream), 64<<10), MaxDictSize))
	if err != nil {
		return invalidf("part: xz: %v", err)
	}
	if _, err := io.ReadFull(xr, out); err != nil {
		if errors.Is(err, ErrDictTooLarge) {
			return err
		}
		return invalidf("part payload: %v", err)
	}
	// Read to the end, so that the check, index and footer are verified.
	var one [1]byte
	for {
		n, err := xr.Read(one[:])
		if n > 0 {
			return invalidf("part payload: an xz block longer than its index says")
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if errors.Is(err, ErrDictTooLarge) {
				return err
			}
			return invalidf("part payload: %v", err)
		}
	}
}
