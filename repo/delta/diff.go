package delta

import (
	"encoding/binary"
	"math/bits"
)

// Diffing for generated deltas. The patch is a raw bsdiff 4 stream (see
// the package doc), which ostree's bspatch applies; it is not made with
// bsdiff's suffix sort but with a hash index of the old file: every
// seedStep-th window of seedLen bytes of the old file is indexed, every
// window of the new file is looked up, and a verified seed is extended
// backwards exactly and forwards as bsdiff does, tolerating scattered
// mismatches (the differing bytes go in the diff block, where they add
// to the old bytes, and a diff block that is mostly zeros compresses to
// almost nothing). Bytes no seed covers go in extra blocks verbatim. It
// runs in time linear in the sizes, and memory of 4 bytes per seedStep
// bytes of the old file.

const (
	seedLen  = 16
	seedStep = 8
	// fuzzWindow: forward extension gives up after this many bytes that do
	// not improve its score.
	fuzzWindow = 256
)

// makePatch returns a bsdiff stream that turns old into new.
func makePatch(old, new []byte) []byte {
	type match struct{ n, o, l int }
	var ms []match
	if len(old) >= seedLen {
		idx := newSeedIndex(old)
		last := 0
		for i := 0; i+seedLen <= len(new); {
			o, ok := idx.find(old, new[i:i+seedLen])
			if !ok {
				i++
				continue
			}
			n, o := extendBack(old, new, i, o, last)
			l := extend(old[o:], new[n:])
			ms = append(ms, match{n, o, l})
			last = n + l
			i = last
		}
	}
	out := make([]byte, 0, len(new)/4)
	ctrl := func(add, cp, seek int) {
		out = appendOfft(out, int64(add))
		out = appendOfft(out, int64(cp))
		out = appendOfft(out, int64(seek))
	}
	if len(ms) == 0 {
		ctrl(0, len(new), 0)
		return append(out, new...)
	}
	if ms[0].n > 0 || ms[0].o != 0 {
		ctrl(0, ms[0].n, ms[0].o)
		out = append(out, new[:ms[0].n]...)
	}
	for k, m := range ms {
		nextN, nextO := len(new), m.o+m.l
		if k+1 < len(ms) {
			nextN, nextO = ms[k+1].n, ms[k+1].o
		}
		end := m.n + m.l
		ctrl(m.l, nextN-end, nextO-(m.o+m.l))
		for i := range m.l {
			out = append(out, new[m.n+i]-old[m.o+i])
		}
		out = append(out, new[end:nextN]...)
	}
	return out
}

// extend returns how far a match of old and new starting at their first
// bytes reaches: exactly while bytes are equal, then as long as bsdiff's
// score (twice the equal bytes minus the length) keeps improving within
// fuzzWindow bytes.
func extend(old, new []byte) int {
	n := min(len(old), len(new))
	i := 0
	for i+8 <= n {
		x := binary.LittleEndian.Uint64(old[i:]) ^ binary.LittleEndian.Uint64(new[i:])
		if x != 0 {
			i += bits.TrailingZeros64(x) / 8
			break
		}
		i += 8
	}
	for i < n && old[i] == new[i] {
		i++
	}
	best, bestLen, score := 0, i, 0
	for j := i; j < n && j-bestLen < fuzzWindow; j++ {
		if old[j] == new[j] {
			score++
		} else {
			score--
		}
		if score > best {
			best, bestLen = score, j+1
		}
	}
	return bestLen
}

// seedIndex maps hashes of old-file windows to positions (plus one; 0 is
// empty), open addressing with linear probing.
type seedIndex struct {
	slots []uint32
	shift uint
}

func newSeedIndex(old []byte) *seedIndex {
	n := (len(old)-seedLen)/seedStep + 1
	size := 1
	for size < 2*n {
		size <<= 1
	}
	idx := &seedIndex{slots: make([]uint32, size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
	for p := 0; p+seedLen <= len(old); p += seedStep {
		h := idx.slot(old[p : p+seedLen])
		for probe := 0; probe < 8; probe++ {
			s := (h + uint64(probe)) & uint64(size-1)
			if idx.slots[s] == 0 {
				idx.slots[s] = uint32(p + 1)
				break
			}
			if q := int(idx.slots[s] - 1); string(old[q:q+seedLen]) == string(old[p:p+seedLen]) {
				break // keep the first occurrence
			}
		}
	}
	return idx
}

func (x *seedIndex) slot(w []byte) uint64 {
	a := binary.LittleEndian.Uint64(w)
	b := binary.LittleEndian.Uint64(w[8:])
	return ((a * 0x9E3779B97F4A7C15) ^ (b * 0xC2B2AE3D27D4EB4F) + b>>29) * 0x165667B19E3779F9 >> x.shift
}

// find returns an old position whose window equals w.
func (x *seedIndex) find(old, w []byte) (int, bool) {
	h := x.slot(w)
	mask := uint64(len(x.slots) - 1)
	for probe := 0; probe < 8; probe++ {
		v := x.slots[(h+uint64(probe))&mask]
		if v == 0 {
			return 0, false
		}
		if q := int(v - 1); string(old[q:q+seedLen]) == string(w) {
			return q, true
		}
	}
	return 0, false
}

// appendOfft appends bsdiff's 8-byte sign-magnitude little-endian integer.
func appendOfft(b []byte, v int64) []byte {
	u := uint64(v)
	if v < 0 {
		u = uint64(-v) | 1<<63
	}
	return binary.LittleEndian.AppendUint64(b, u)
}

// Copy encoding. A new file that is mostly long stretches of its old
// version (an edit, an insertion, lines appended) is sent as ostree sends
// what its rollsum matches: write ops reading those stretches from the old
// file (the read source) and write ops of the few new bytes from the
// blob. The part then carries only the new bytes, and applying it copies
// instead of adding a diff block of the file's whole length to the old
// bytes; a file whose changes are scattered keeps its bsdiff patch, which
// tolerates them.

const (
	// minCopy is the shortest stretch worth a write op of its own.
	minCopy = 64
	// copyOpCost is about what a write op and the read-source switches
	// around it cost in the bytecode.
	copyOpCost = 16
)

// copyOp is a piece of a new file: n bytes of the old file at off, or,
// when lit is set, those bytes.
type copyOp struct {
	off, n int
	lit    []byte
}

// makeCopies describes new as stretches of old and literal bytes; ok is
// false when that is not compact (literal bytes and ops over a quarter of
// new), and a bsdiff patch should be sent instead.
func makeCopies(old, new []byte) (ops []copyOp, ok bool) {
	if len(old) < seedLen || len(new) < minCopy {
		return nil, false
	}
	budget := len(new) / 4
	cost := 0
	idx := newSeedIndex(old)
	last := 0 // new[:last] is described
	lit := func(end int) {
		if end > last {
			ops = append(ops, copyOp{n: end - last, lit: new[last:end]})
			cost += end - last + copyOpCost
		}
	}
	for i := 0; i+seedLen <= len(new) && cost <= budget; {
		o, found := idx.find(old, new[i:i+seedLen])
		if !found {
			i++
			continue
		}
		n, o := extendBack(old, new, i, o, last)
		l := exact(old[o:], new[n:])
		if l < minCopy {
			i++
			continue
		}
		lit(n)
		ops = append(ops, copyOp{off: o, n: l})
		cost += copyOpCost
		last = n + l
		i = last
	}
	lit(len(new))
	if cost > budget {
		return nil, false
	}
	return ops, true
}

// exact returns how many leading bytes old and new share.
func exact(old, new []byte) int {
	n := min(len(old), len(new))
	i := 0
	for i+8 <= n {
		if x := binary.LittleEndian.Uint64(old[i:]) ^ binary.LittleEndian.Uint64(new[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
		i += 8
	}
	for i < n && old[i] == new[i] {
		i++
	}
	return i
}

// extendBack grows a match of new[n:] at old[o:] backwards while the bytes
// before it agree, but never into new[:last], which is described already.
func extendBack(old, new []byte, n, o, last int) (int, int) {
	for n > last && o > 0 && new[n-1] == old[o-1] {
		n--
		o--
	}
	return n, o
}
