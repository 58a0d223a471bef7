package repo

// idIndex is a set of node indexes found by a hash of a key of theirs:
// open addressing with linear probing, four bytes a slot, no pointer.
type idIndex struct {
	slots []uint32 // noNode where empty; a power of two long
	n     int
}

// find returns the node of hash h that match accepts, or noNode.
func (x *idIndex) find(h uint64, match func(uint32) bool) uint32 {
	if x.n == 0 {
		return noNode
	}
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		id := x.slots[i]
		if id == noNode {
			return noNode
		}
		if match(id) {
			return id
		}
	}
}

// add adds id, of hash h; hash gives the hash of any node, to move them.
func (x *idIndex) add(h uint64, id uint32, hash func(uint32) uint64) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.resize(max(8, 2*len(x.slots)), hash)
	}
	x.put(h, id)
}

func (x *idIndex) put(h uint64, id uint32) {
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i] != noNode {
		i = (i + 1) & mask
	}
	x.slots[i] = id
	x.n++
}

func (x *idIndex) resize(size int, hash func(uint32) uint64) {
	old := x.slots
	x.slots = make([]uint32, size)
	for i := range x.slots {
		x.slots[i] = noNode
	}
	x.n = 0
	for _, id := range old {
		if id != noNode {
			x.put(hash(id), id)
		}
	}
}

// remove removes id, of hash h, moving back the nodes after it that
// would not be found past the hole.
func (x *idIndex) remove(h uint64, id uint32, hash func(uint32) uint64) {
	if x.n == 0 {
		return
	}
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i] != id {
		if x.slots[i] == noNode {
			return
		}
		i = (i + 1) & mask
	}
	for j := i; ; {
		j = (j + 1) & mask
		if x.slots[j] == noNode {
			break
		}
		k := hash(x.slots[j]) & mask
		// The node at j stays if its home k is cyclically in (i, j].
		if i <= j && i < k && k <= j || i > j && (i < k || k <= j) {
			continue
		}
		x.slots[i] = x.slots[j]
		i = j
	}
	x.slots[i] = noNode
	x.n--
	if len(x.slots) > 64 && x.n*8 < len(x.slots) {
		x.resize(len(x.slots)/2, hash)
	}
}

// wdMap maps watch descriptors to nodes, in chunks of consecutive
// descriptors: the kernel hands them out counting up, so the directories
// of a tree read together fill chunks, at four bytes each.
type wdMap struct {
	chunks map[int32]*wdChunk
	n      int
}

type wdChunk struct {
	ids [wdChunkSize]uint32 // noNode where none
	n   int
}

const (
	wdChunkBits = 10
	wdChunkSize = 1 << wdChunkBits
)

func (m *wdMap) get(wd int32) uint32 {
	if c := m.chunks[wd>>wdChunkBits]; c != nil {
		return c.ids[wd&(wdChunkSize-1)]
	}
	return noNode
}

func (m *wdMap) set(wd int32, id uint32) {
	c := m.chunks[wd>>wdChunkBits]
	if c == nil {
		if m.chunks == nil {
			m.chunks = map[int32]*wdChunk{}
		}
		c = &wdChunk{}
		for i := range c.ids {
			c.ids[i] = noNode
		}
		m.chunks[wd>>wdChunkBits] = c
	}
	if p := &c.ids[wd&(wdChunkSize-1)]; *p == noNode {
		c.n++
		m.n++
	}
	c.ids[wd&(wdChunkSize-1)] = id
}

func (m *wdMap) del(wd int32) {
	c := m.chunks[wd>>wdChunkBits]
	if c == nil || c.ids[wd&(wdChunkSize-1)] == noNode {
		return
	}
	c.ids[wd&(wdChunkSize-1)] = noNode
	c.n--
	m.n--
	if c.n == 0 {
		delete(m.chunks, wd>>wdChunkBits)
	}
}
