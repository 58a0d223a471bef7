package xzdec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"hash/crc64"
	"math"
	"runtime"
	"testing"
	"time"
)

// Hand-built xz files, their CRC32s right, so that each edge reaches the
// check it is about rather than a CRC.

func putVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func withCRC(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// stored is LZMA2 data of uncompressed chunks holding data.
func stored(data []byte) []byte {
	var b []byte
	for first := true; len(data) > 0; first = false {
		n := min(len(data), 1<<16)
		c := byte(2)
		if first {
			c = 1
		}
		b = append(b, c, byte((n-1)>>8), byte(n-1))
		b = append(b, data[:n]...)
		data = data[n:]
	}
	return append(b, 0)
}

// xzBlock is a block of a hand-built stream: its LZMA2 data, what that
// decodes to, and edits to make to it.
type xzBlock struct {
	lz, out []byte
	flags   byte         // block flags beyond the filter count
	sizes   [2]uint64    // compressed and uncompressed sizes in the header, when its flags say
	filter  []byte       // filter flags, when not LZMA2 with a 64 KiB dictionary
	index   *[2]uint64   // the index record, when not the block's own
	edit    func([]byte) // edits the block (header and data) before its check
}

type xzStream struct {
	blocks       []xzBlock
	check        byte
	footerFlags  *[2]byte
	backwardDiff int
	badIndexCRC  bool
	indexPad     []byte // index padding, when not the right zeros
}

func (s xzStream) bytes() []byte {
	flags := [2]byte{0, s.check}
	out := append([]byte("\xfd7zXZ\x00"), withCRC(flags[:])...)
	var recs [][2]uint64
	for _, b := range s.blocks {
		h := []byte{0, b.flags}
		if b.flags&0x40 != 0 {
			h = putVarint(h, b.sizes[0])
		}
		if b.flags&0x80 != 0 {
			h = putVarint(h, b.sizes[1])
		}
		if b.filter != nil {
			h = append(h, b.filter...)
		} else {
			h = append(h, filterLZMA, 1, 12)
		}
		for len(h)%4 != 0 {
			h = append(h, 0)
		}
		h[0] = byte(len(h) / 4)
		h = withCRC(h)
		blk := append(h, b.lz...)
		if b.edit != nil {
			b.edit(blk)
		}
		unpadded := uint64(len(blk) + checkSize(s.check))
		for len(blk)%4 != 0 {
			blk = append(blk, 0)
		}
		switch s.check {
		case checkCRC32:
			blk = binary.LittleEndian.AppendUint32(blk, crc32.ChecksumIEEE(b.out))
		case checkCRC64:
			blk = binary.LittleEndian.AppendUint64(blk, crc64.Checksum(b.out, crc64Tab))
		}
		out = append(out, blk...)
		rec := [2]uint64{unpadded, uint64(len(b.out))}
		if b.index != nil {
			rec = *b.index
		}
		recs = append(recs, rec)
	}
	idx := putVarint([]byte{0}, uint64(len(recs)))
	for _, r := range recs {
		idx = putVarint(putVarint(idx, r[0]), r[1])
	}
	if s.indexPad != nil {
		idx = append(idx, s.indexPad...)
	} else {
		for len(idx)%4 != 0 {
			idx = append(idx, 0)
		}
	}
	idx = withCRC(idx)
	if s.badIndexCRC {
		idx[len(idx)-1] ^= 1
	}
	out = append(out, idx...)
	if s.footerFlags != nil {
		flags = *s.footerFlags
	}
	body := binary.LittleEndian.AppendUint32(nil, uint32(len(idx)/4-1+s.backwardDiff))
	body = append(body, flags[:]...)
	f := binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(body))
	return append(append(append(out, f...), body...), 'Y', 'Z')
}

func one(s xzStream) []byte { return s.bytes() }

// TestEdgesXZ: each rule of the .xz container a hostile file may break
// fails with the error of its kind, never a panic; the unbroken file
// decodes.
func TestEdgesXZ(t *testing.T) {
	abc := []byte("abcdefgh")
	ok := xzBlock{lz: stored(abc), out: abc}
	blk := func(edit func(*xzBlock)) xzBlock {
		b := ok
		edit(&b)
		return b
	}
	ffl := func(a, b byte) *[2]byte { return &[2]byte{a, b} }
	rec := func(u, s uint64) *[2]uint64 { return &[2]uint64{u, s} }
	cases := []struct {
		name string
		in   []byte
		o    Options
		want error
	}{
		{"ok", one(xzStream{blocks: []xzBlock{ok}, check: checkCRC32}), opts, nil},
		{"ok-crc64", one(xzStream{blocks: []xzBlock{ok, ok}, check: checkCRC64}), opts, nil},
		{"ok-sizes", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.flags, b.sizes = 0xC0, [2]uint64{uint64(len(b.lz)), 8} })}}), opts, nil},
		{"ok-empty-stream", one(xzStream{}), opts, nil},
		{"ok-empty-block", one(xzStream{blocks: []xzBlock{{lz: []byte{0}}}, check: checkCRC32}), opts, nil},
		{"flags-differ", one(xzStream{blocks: []xzBlock{ok}, check: checkCRC32, footerFlags: ffl(0, checkCRC64)}), opts, ErrCorrupt},
		{"flags-reserved", one(xzStream{blocks: []xzBlock{ok}, footerFlags: ffl(1, 0)}), opts, ErrUnsupported},
		{"check-sha256", one(xzStream{blocks: []xzBlock{ok}, check: 10, footerFlags: ffl(0, 10)}), opts, ErrUnsupported},
		{"backward-size-short", one(xzStream{blocks: []xzBlock{ok}, backwardDiff: -1}), opts, ErrCorrupt},
		{"backward-size-long", one(xzStream{blocks: []xzBlock{ok}, backwardDiff: 1}), opts, ErrCorrupt},
		{"backward-size-huge", one(xzStream{blocks: []xzBlock{ok}, backwardDiff: 1 << 30}), opts, ErrCorrupt},
		{"index-crc", one(xzStream{blocks: []xzBlock{ok}, badIndexCRC: true}), opts, ErrCorrupt},
		{"index-padding-nonzero", one(xzStream{blocks: []xzBlock{ok}, indexPad: []byte{1}}), opts, ErrCorrupt},
		{"index-padding-extra", one(xzStream{blocks: []xzBlock{ok}, indexPad: []byte{0, 0, 0, 0, 0}}), opts, ErrCorrupt},
		{"index-size-short", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.index = rec(uint64(12+len(b.lz)), 7) })}}), opts, ErrCorrupt},
		{"index-size-long", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.index = rec(uint64(12+len(b.lz)), 9) })}}), opts, ErrCorrupt},
		{"index-unpadded-short", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.index = rec(uint64(12+len(b.lz)-1), 8) })}}), opts, ErrCorrupt},
		{"index-unpadded-long", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.index = rec(uint64(12+len(b.lz)+4), 8) })}}), opts, ErrCorrupt},
		{"index-unpadded-tiny", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.index = rec(4, 8) })}}), opts, ErrCorrupt},
		{"index-unpadded-2^62", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.index = rec(1<<62, 8) })}}), opts, ErrCorrupt},
		{"index-count-huge", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.index = rec(5, 0) })}, indexPad: []byte{}}), opts, ErrCorrupt},
		{"header-csize-differs", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.flags, b.sizes[0] = 0x40, uint64(len(b.lz)+1) })}}), opts, ErrCorrupt},
		{"header-usize-differs", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.flags, b.sizes[1] = 0x80, 9 })}}), opts, ErrCorrupt},
		{"header-reserved-flag", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.flags = 0x04 })}}), opts, ErrUnsupported},
		{"header-two-filters", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.flags, b.filter = 1, []byte{3, 1, 0, filterLZMA, 1, 12} })}}), opts, ErrUnsupported},
		{"filter-bcj", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.filter = []byte{4, 0} })}}), opts, ErrUnsupported},
		{"filter-props-size", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.filter = []byte{filterLZMA, 2, 12, 0} })}}), opts, ErrCorrupt},
		{"filter-props-missing", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.filter = []byte{filterLZMA, 1}; b.edit = func(x []byte) { x[4] = 1 } })}}), opts, ErrCorrupt},
		{"dict-code-41", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.filter = []byte{filterLZMA, 1, 41} })}}), opts, ErrCorrupt},
		{"dict-reserved-bits", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.filter = []byte{filterLZMA, 1, 0x40} })}}), opts, ErrCorrupt},
		{"dict-over-max", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.filter = []byte{filterLZMA, 1, 40} })}}), opts, ErrDictTooLarge},
		{"header-padding-nonzero", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.filter = []byte{filterLZMA, 1, 12, 0, 0, 7} })}}), opts, ErrCorrupt},
		{"header-crc", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.edit = func(x []byte) { x[5] ^= 1 } })}}), opts, ErrCorrupt},
		{"block-padding-nonzero", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.lz = append(stored(abc[:7]), 0, 0); b.out = abc[:7] })}}), opts, ErrCorrupt},
		{"block-crc32", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.out = []byte("abcdefgX") })}, check: checkCRC32}), opts, ErrCorrupt},
		{"block-crc64", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.out = []byte("abcdefgX") })}, check: checkCRC64}), opts, ErrCorrupt},
		{"block-is-index", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.edit = func(x []byte) { x[0] = 0 } })}}), opts, ErrCorrupt},
		// Declared sizes summing past 2^64 must not wrap under the limit
		// (nor make an output slice of a negative length).
		{"sizes-wrap", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.index = rec(uint64(12+len(b.lz)), 1<<63-1) }), blk(func(b *xzBlock) { b.index = rec(uint64(12+len(b.lz)), 1<<63-1) })}}), Options{Limit: math.MaxUint64, MaxDict: 1 << 30}, ErrTooLarge},
		{"size-maxint", one(xzStream{blocks: []xzBlock{blk(func(b *xzBlock) { b.index = rec(uint64(12+len(b.lz)), 1<<63-1) })}}), Options{Limit: math.MaxUint64, MaxDict: 1 << 30}, ErrTooLarge},
		{"size-over-limit", one(xzStream{blocks: []xzBlock{ok, ok}}), Options{Limit: 15, MaxDict: 1 << 30}, ErrTooLarge},
		{"concat-over-limit", append(one(xzStream{blocks: []xzBlock{ok}}), one(xzStream{blocks: []xzBlock{ok}})...), Options{Limit: 15, MaxDict: 1 << 30}, ErrTooLarge},
		{"concat", append(append(one(xzStream{blocks: []xzBlock{ok}}), 0, 0, 0, 0), one(xzStream{blocks: []xzBlock{ok}, check: checkCRC32})...), opts, nil},
		{"padding-first", append([]byte{0, 0, 0, 0}, one(xzStream{blocks: []xzBlock{ok}})...), opts, ErrCorrupt},
		{"padding-odd", append(one(xzStream{blocks: []xzBlock{ok}}), 0, 0, 0), opts, ErrCorrupt},
		{"garbage-between", append(append(one(xzStream{blocks: []xzBlock{ok}}), 1, 0, 0, 0), one(xzStream{blocks: []xzBlock{ok}})...), opts, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, workers := range []int{1, 3} {
				o := c.o
				o.Workers = workers
				got, err := Decode(c.in, o)
				if c.want == nil {
					if err != nil {
						t.Fatalf("workers %d: %v", workers, err)
					}
					if want, werr := decodeUlikunitz(c.in); werr != nil || !bytes.Equal(got, want) {
						t.Fatalf("workers %d: decoded %q; ulikunitz: %q, %v", workers, got, want, werr)
					}
					continue
				}
				if !errors.Is(err, c.want) {
					t.Fatalf("workers %d: got %v, want %v", workers, err, c.want)
				}
			}
		})
	}
}

// TestAllocShort: an Alloc returning fewer bytes than asked is an error,
// not a panic.
func TestAllocShort(t *testing.T) {
	in := one(xzStream{blocks: []xzBlock{{lz: stored([]byte("abcd")), out: []byte("abcd")}}})
	o := opts
	o.Alloc = func(n int) []byte { return make([]byte, n-1) }
	if _, err := Decode(in, o); err == nil {
		t.Fatal("decoded into a short buffer")
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestManyBlocks: blocks cost memory however little they hold, so a
// file of many empty blocks (or an index of many records and no blocks)
// fails within a few times its size instead of allocating over a
// hundred bytes a block; a file with fewer decodes on several workers.
func TestManyBlocks(t *testing.T) {
	many := func(n int) []byte {
		bs := make([]xzBlock, n)
		for i := range bs {
			bs[i] = xzBlock{lz: []byte{0}, out: []byte{}}
		}
		return xzStream{blocks: bs, check: checkCRC32}.bytes()
	}
	indexOnly := func(n int) []byte {
		idx := putVarint([]byte{0}, uint64(n))
		for range n {
			idx = append(idx, 16, 0)
		}
		for len(idx)%4 != 0 {
			idx = append(idx, 0)
		}
		idx = withCRC(idx)
		body := binary.LittleEndian.AppendUint32(nil, uint32(len(idx)/4-1))
		body = append(body, 0, 0)
		in := append([]byte("\xfd7zXZ\x00"), withCRC([]byte{0, 0})...)
		in = append(append(in, idx...), withCRC(body)[4:]...)
		return append(binary.LittleEndian.AppendUint32(in[:len(in)-6], crc32.ChecksumIEEE(body)), append(body, 'Y', 'Z')...)
	}
	o := Options{Limit: 64 << 20, MaxDict: 1 << 20, Workers: 2}
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty-blocks-4096", many(1 << 12), nil},
		{"empty-blocks-2^17", many(1 << 17), ErrTooLarge},
		{"index-only-2^20", indexOnly(1 << 20), ErrCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = Decode(c.in, o) })
			if !errors.Is(err, c.want) && (c.want != nil || err != nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if c.want != nil && n > 4*uint64(len(c.in)) {
				t.Fatalf("a file of %d bytes allocated %d failing", len(c.in), n)
			}
		})
	}
}

// TestBlockError: one bad block among many, wherever it falls in the
// order the workers take them, fails the decode with its error, and
// every worker has returned when Decode does.
func TestBlockError(t *testing.T) {
	for _, bad := range []int{0, 7, 31} {
		for _, workers := range []int{1, 2, 5} {
			bs := make([]xzBlock, 32)
			for i := range bs {
				// Sizes differ so that the order by size is not the file's.
				data := bytes.Repeat([]byte{byte(i)}, 100+(i*37)%64)
				bs[i] = xzBlock{lz: stored(data), out: data}
				if i == bad {
					bs[i].out = []byte("not what it decodes to")
				}
			}
			in := xzStream{blocks: bs, check: checkCRC32}.bytes()
			before := runtime.NumGoroutine()
			_, err := Decode(in, Options{Limit: 1 << 20, MaxDict: 1 << 20, Workers: workers})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("bad block %d, %d workers: got %v, want ErrCorrupt", bad, workers, err)
			}
			// A worker has returned from Decode's wait once it is done,
			// but leaves the scheduler's count a moment later: the count
			// must come back, not be back at once.
			for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; runtime.Gosched() {
				if time.Now().After(deadline) {
					t.Fatalf("bad block %d, %d workers: %d goroutines left running", bad, workers, runtime.NumGoroutine()-before)
				}
			}
		}
	}
}
