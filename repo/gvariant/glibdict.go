package gvariant

// DictOrder returns m as GLib's GVariantDict returns it: each key once
// (a later value replaces an earlier one in its place), in the iteration
// order of a GHashTable with g_str_hash keys filled in m's order. ostree
// commit --bootable passes the metadata through one, which reorders it.
//
// The table is GLib's (2.74, as Debian 12's ostree 2022.7 uses): 8
// buckets to start, index (hash*11) mod the prime below the size,
// quadratic probing, grown in place once 15/16 full.
func DictOrder(m Metadata) Metadata {
	h := newGHash()
	for _, e := range m {
		h.insert(e)
	}
	var out Metadata
	for i, hv := range h.hashes {
		if hv >= 2 {
			out = append(out, h.entries[i])
		}
	}
	return out
}

// primeMod is GLib's prime_mod table, by shift.
var primeMod = [...]uint32{1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191,
	16381, 32749, 65521, 131071, 262139, 524287, 1048573, 2097143, 4194301, 8388593,
	16777213, 33554393, 67108859, 134217689, 268435399, 536870909, 1073741789, 2147483647}

type gHash struct {
	shift   int
	mod     uint32
	hashes  []uint32 // 0 unused, 1 tombstone, else the key's hash
	entries []Entry
	nnodes  int
}

func newGHash() *gHash {
	h := &gHash{}
	h.setShift(3)
	h.hashes = make([]uint32, 1<<h.shift)
	h.entries = make([]Entry, 1<<h.shift)
	return h
}

func (h *gHash) setShift(shift int) {
	h.shift = shift
	h.mod = primeMod[shift]
}

func (h *gHash) mask() uint32 { return uint32(1)<<h.shift - 1 }

// gStrHash is g_str_hash: djb2 over signed chars.
func gStrHash(s string) uint32 {
	h := uint32(5381)
	for i := 0; i < len(s); i++ {
		h = h<<5 + h + uint32(int32(int8(s[i])))
	}
	return h
}

func (h *gHash) index(hash uint32) uint32 { return (hash * 11) % h.mod }

func (h *gHash) insert(e Entry) {
	hash := gStrHash(e.Key)
	if hash < 2 {
		hash = 2
	}
	i := h.index(hash)
	step := uint32(0)
	for h.hashes[i] != 0 {
		if h.hashes[i] == hash && h.entries[i].Key == e.Key {
			h.entries[i].Value = e.Value
			return
		}
		step++
		i = (i + step) & h.mask()
	}
	h.hashes[i] = hash
	h.entries[i] = e
	h.nnodes++
	// g_hash_table_maybe_resize: no tombstones here, so noccupied is
	// nnodes.
	size, occ := len(h.hashes), h.nnodes
	if size > occ*4 && size > 8 || size <= occ+occ/16 {
		h.resize()
	}
}

// resize is g_hash_table_resize: a new shift for nnodes*1.333, then the
// entries moved in place, evicting as they land.
func (h *gHash) resize() {
	n := int(float64(h.nnodes) * 1.333)
	shift := 0
	for ; n != 0; shift++ {
		n >>= 1
	}
	shift = max(shift, 3)
	oldSize := len(h.hashes)
	h.setShift(shift)
	size := 1 << shift
	if size > oldSize {
		h.hashes = append(h.hashes, make([]uint32, size-oldSize)...)
		h.entries = append(h.entries, make([]Entry, size-oldSize)...)
	}
	placed := make([]bool, max(size, oldSize))
	for i := 0; i < oldSize; i++ {
		hv := h.hashes[i]
		if hv < 2 {
			h.hashes[i] = 0
			continue
		}
		if placed[i] {
			continue
		}
		h.hashes[i] = 0
		e := h.entries[i]
		h.entries[i] = Entry{}
		for {
			j := h.index(hv)
			step := uint32(0)
			for placed[j] {
				step++
				j = (j + step) & h.mask()
			}
			placed[j] = true
			replaced := h.hashes[j]
			h.hashes[j] = hv
			if replaced < 2 {
				h.entries[j] = e
				break
			}
			hv = replaced
			e, h.entries[j] = h.entries[j], e
		}
	}
	if size < oldSize {
		h.hashes = h.hashes[:size]
		h.entries = h.entries[:size]
	}
}
