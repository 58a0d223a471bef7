package zdeflate

const (
	literals  = 256
	lCodes    = literals + 1 + 29
	dCodes    = 30
	blCodes   = 19
	heapSize  = 2*lCodes + 1
	maxBits   = 15
	maxBLBits = 7
	endBlock  = 256
	rep3to6   = 16
	repz3to10 = 17
	repz11    = 18
)

var (
	extraLBits  = [29]int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	extraDBits  = [dCodes]int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	extraBLBits = [blCodes]int{16: 2, 17: 3, 18: 7}
	blOrder     = [blCodes]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

	lengthCode [256]uint8 // match length - 3 → length code
	baseLength [29]int
	distCode   [512]uint8 // distance - 1 → code (above 256: by dist>>7)
	baseDist   [dCodes]int
	staticL    [lCodes + 2]node
	staticD    [dCodes]node
)

// node is a tree element: frequency, code, length and parent (zlib keeps
// some of these in unions; here they are apart).
type node struct {
	freq, code, len, dad int
}

// treeDesc describes one of a block's three trees.
type treeDesc struct {
	dyn       []node
	stat      []node // the fixed code, nil for the bit-length tree
	extra     []int
	base      int
	elems     int
	maxLength int
	maxCode   int
}

func init() {
	length := 0
	code := 0
	for code = 0; code < 28; code++ {
		baseLength[code] = length
		for n := 0; n < 1<<extraLBits[code]; n++ {
			lengthCode[length] = uint8(code)
			length++
		}
	}
	// Length 258 (255 here) has a code of its own.
	lengthCode[length-1] = uint8(code)
	dist := 0
	for code = 0; code < 16; code++ {
		baseDist[code] = dist
		for n := 0; n < 1<<extraDBits[code]; n++ {
			distCode[dist] = uint8(code)
			dist++
		}
	}
	dist >>= 7
	for ; code < dCodes; code++ {
		baseDist[code] = dist << 7
		for n := 0; n < 1<<(extraDBits[code]-7); n++ {
			distCode[256+dist] = uint8(code)
			dist++
		}
	}
	var count [maxBits + 1]int
	n := 0
	for ; n <= 143; n++ {
		staticL[n].len = 8
		count[8]++
	}
	for ; n <= 255; n++ {
		staticL[n].len = 9
		count[9]++
	}
	for ; n <= 279; n++ {
		staticL[n].len = 7
		count[7]++
	}
	for ; n <= 287; n++ {
		staticL[n].len = 8
		count[8]++
	}
	genCodes(staticL[:], lCodes+1, &count)
	for n := range staticD {
		staticD[n].len = 5
		staticD[n].code = reverse(n, 5)
	}
}

func dCode(dist int) int {
	if dist < 256 {
		return int(distCode[dist])
	}
	return int(distCode[256+dist>>7])
}

func reverse(code, n int) int {
	r := 0
	for ; n > 0; n-- {
		r = r<<1 | code&1
		code >>= 1
	}
	return r
}

// genCodes gives each used element of tree its code, from the counts of
// each bit length.
func genCodes(tree []node, maxCode int, count *[maxBits + 1]int) {
	var next [maxBits + 1]int
	code := 0
	for bits := 1; bits <= maxBits; bits++ {
		code = (code + count[bits-1]) << 1
		next[bits] = code
	}
	for n := 0; n <= maxCode; n++ {
		l := tree[n].len
		if l == 0 {
			continue
		}
		tree[n].code = reverse(next[l], l)
		next[l]++
	}
}

func (z *Writer) initBlock() {
	for n := 0; n < lCodes; n++ {
		z.ltree[n].freq = 0
	}
	for n := 0; n < dCodes; n++ {
		z.dtree[n].freq = 0
	}
	for n := 0; n < blCodes; n++ {
		z.bltree[n].freq = 0
	}
	z.ltree[endBlock].freq = 1
	z.optLen, z.staticLen = 0, 0
	z.syms = z.syms[:0]
}

func (z *Writer) smaller(tree []node, n, m int) bool {
	return tree[n].freq < tree[m].freq || tree[n].freq == tree[m].freq && z.depth[n] <= z.depth[m]
}

func (z *Writer) downHeap(tree []node, k int) {
	v := z.heap[k]
	j := k << 1
	for j <= z.heapLen {
		if j < z.heapLen && z.smaller(tree, z.heap[j+1], z.heap[j]) {
			j++
		}
		if z.smaller(tree, v, z.heap[j]) {
			break
		}
		z.heap[k] = z.heap[j]
		k = j
		j <<= 1
	}
	z.heap[k] = v
}

// buildTree makes d's Huffman code from its frequencies, lengths limited
// to d.maxLength, and adds the block's cost to optLen and staticLen.
func (z *Writer) buildTree(d *treeDesc) {
	tree := d.dyn
	z.heapLen, z.heapMax = 0, heapSize
	maxCode := -1
	for n := 0; n < d.elems; n++ {
		if tree[n].freq != 0 {
			z.heapLen++
			z.heap[z.heapLen] = n
			maxCode = n
			z.depth[n] = 0
		} else {
			tree[n].len = 0
		}
	}
	// At least two codes, even with fewer symbols.
	for z.heapLen < 2 {
		nd := 0
		if maxCode < 2 {
			maxCode++
			nd = maxCode
		}
		z.heapLen++
		z.heap[z.heapLen] = nd
		tree[nd].freq = 1
		z.depth[nd] = 0
		z.optLen--
		if d.stat != nil {
			z.staticLen -= d.stat[nd].len
		}
	}
	d.maxCode = maxCode
	for n := z.heapLen / 2; n >= 1; n-- {
		z.downHeap(tree, n)
	}
	nd := d.elems
	for {
		n := z.heap[1]
		z.heap[1] = z.heap[z.heapLen]
		z.heapLen--
		z.downHeap(tree, 1)
		m := z.heap[1]
		z.heapMax--
		z.heap[z.heapMax] = n
		z.heapMax--
		z.heap[z.heapMax] = m
		tree[nd].freq = tree[n].freq + tree[m].freq
		dn, dm := z.depth[n], z.depth[m]
		z.depth[nd] = max(dn, dm) + 1
		tree[n].dad, tree[m].dad = nd, nd
		z.heap[1] = nd
		nd++
		z.downHeap(tree, 1)
		if z.heapLen < 2 {
			break
		}
	}
	z.heapMax--
	z.heap[z.heapMax] = z.heap[1]
	z.genBitLen(d)
	genCodes(tree, maxCode, &z.blCount)
}

// genBitLen sets the code lengths from the tree, repairing lengths over
// d.maxLength as zlib does.
func (z *Writer) genBitLen(d *treeDesc) {
	tree := d.dyn
	clear(z.blCount[:])
	tree[z.heap[z.heapMax]].len = 0
	overflow := 0
	h := z.heapMax + 1
	for ; h < heapSize; h++ {
		n := z.heap[h]
		bits := tree[tree[n].dad].len + 1
		if bits > d.maxLength {
			bits = d.maxLength
			overflow++
		}
		tree[n].len = bits
		if n > d.maxCode {
			continue
		}
		z.blCount[bits]++
		xbits := 0
		if n >= d.base {
			xbits = d.extra[n-d.base]
		}
		f := tree[n].freq
		z.optLen += f * (bits + xbits)
		if d.stat != nil {
			z.staticLen += f * (d.stat[n].len + xbits)
		}
	}
	if overflow == 0 {
		return
	}
	for overflow > 0 {
		bits := d.maxLength - 1
		for z.blCount[bits] == 0 {
			bits--
		}
		z.blCount[bits]--
		z.blCount[bits+1] += 2
		z.blCount[d.maxLength]--
		overflow -= 2
	}
	for bits := d.maxLength; bits != 0; bits-- {
		n := z.blCount[bits]
		for n != 0 {
			h--
			m := z.heap[h]
			if m > d.maxCode {
				continue
			}
			if tree[m].len != bits {
				z.optLen += (bits - tree[m].len) * tree[m].freq
				tree[m].len = bits
			}
			n--
		}
	}
}

// scanTree counts in the bit-length tree how tree's lengths will be sent.
func (z *Writer) scanTree(tree []node, maxCode int) {
	prevLen, nextLen := -1, tree[0].len
	count, maxCount, minCount := 0, 7, 4
	if nextLen == 0 {
		maxCount, minCount = 138, 3
	}
	tree[maxCode+1].len = 0xffff // guard
	for n := 0; n <= maxCode; n++ {
		curLen := nextLen
		nextLen = tree[n+1].len
		count++
		if count < maxCount && curLen == nextLen {
			continue
		}
		switch {
		case count < minCount:
			z.bltree[curLen].freq += count
		case curLen != 0:
			if curLen != prevLen {
				z.bltree[curLen].freq++
			}
			z.bltree[rep3to6].freq++
		case count <= 10:
			z.bltree[repz3to10].freq++
		default:
			z.bltree[repz11].freq++
		}
		count = 0
		prevLen = curLen
		switch {
		case nextLen == 0:
			maxCount, minCount = 138, 3
		case curLen == nextLen:
			maxCount, minCount = 6, 3
		default:
			maxCount, minCount = 7, 4
		}
	}
}

// sendTree sends tree's lengths in the bit-length code.
func (z *Writer) sendTree(tree []node, maxCode int) {
	prevLen, nextLen := -1, tree[0].len
	count, maxCount, minCount := 0, 7, 4
	if nextLen == 0 {
		maxCount, minCount = 138, 3
	}
	for n := 0; n <= maxCode; n++ {
		curLen := nextLen
		nextLen = tree[n+1].len
		count++
		if count < maxCount && curLen == nextLen {
			continue
		}
		switch {
		case count < minCount:
			for ; count != 0; count-- {
				z.sendCode(curLen, z.bltree[:])
			}
		case curLen != 0:
			if curLen != prevLen {
				z.sendCode(curLen, z.bltree[:])
				count--
			}
			z.sendCode(rep3to6, z.bltree[:])
			z.sendBits(count-3, 2)
		case count <= 10:
			z.sendCode(repz3to10, z.bltree[:])
			z.sendBits(count-3, 3)
		default:
			z.sendCode(repz11, z.bltree[:])
			z.sendBits(count-11, 7)
		}
		count = 0
		prevLen = curLen
		switch {
		case nextLen == 0:
			maxCount, minCount = 138, 3
		case curLen == nextLen:
			maxCount, minCount = 6, 3
		default:
			maxCount, minCount = 7, 4
		}
	}
}

// buildBLTree builds the bit-length tree and returns the index in blOrder
// of the last length to send.
func (z *Writer) buildBLTree() int {
	z.scanTree(z.ltree[:], z.lDesc.maxCode)
	z.scanTree(z.dtree[:], z.dDesc.maxCode)
	z.buildTree(&z.blDesc)
	maxIndex := blCodes - 1
	for ; maxIndex >= 3; maxIndex-- {
		if z.bltree[blOrder[maxIndex]].len != 0 {
			break
		}
	}
	z.optLen += 3*(maxIndex+1) + 5 + 5 + 4
	return maxIndex
}

func (z *Writer) sendBits(v, n int) {
	z.bits |= uint64(v) << z.nbits
	z.nbits += uint(n)
	for z.nbits >= 8 {
		z.out = append(z.out, byte(z.bits))
		z.bits >>= 8
		z.nbits -= 8
	}
}

func (z *Writer) sendCode(c int, tree []node) { z.sendBits(tree[c].code, tree[c].len) }

// windup pads to a byte boundary.
func (z *Writer) windup() {
	if z.nbits > 0 {
		z.out = append(z.out, byte(z.bits))
	}
	z.bits, z.nbits = 0, 0
}

// trFlushBlock sends the block's symbols (buf: its bytes, nil when they
// left the window) the cheapest way and starts a new block.
func (z *Writer) trFlushBlock(buf []byte, storedLen int, last bool) {
	z.buildTree(&z.lDesc)
	z.buildTree(&z.dDesc)
	maxIndex := z.buildBLTree()
	optLenB := (z.optLen + 3 + 7) >> 3
	staticLenB := (z.staticLen + 3 + 7) >> 3
	if staticLenB <= optLenB {
		optLenB = staticLenB
	}
	lastBit := 0
	if last {
		lastBit = 1
	}
	switch {
	case storedLen+4 <= optLenB && buf != nil:
		z.sendBits(lastBit, 3) // stored
		z.windup()
		z.out = append(z.out, byte(storedLen), byte(storedLen>>8), ^byte(storedLen), ^byte(storedLen>>8))
		z.out = append(z.out, buf...)
	case staticLenB == optLenB:
		z.sendBits(2+lastBit, 3)
		z.compressBlock(staticL[:], staticD[:])
	default:
		z.sendBits(4+lastBit, 3)
		lc, dc, bc := z.lDesc.maxCode+1, z.dDesc.maxCode+1, maxIndex+1
		z.sendBits(lc-257, 5)
		z.sendBits(dc-1, 5)
		z.sendBits(bc-4, 4)
		for r := 0; r < bc; r++ {
			z.sendBits(z.bltree[blOrder[r]].len, 3)
		}
		z.sendTree(z.ltree[:], lc-1)
		z.sendTree(z.dtree[:], dc-1)
		z.compressBlock(z.ltree[:], z.dtree[:])
	}
	z.initBlock()
	if last {
		z.windup()
	}
}

func (z *Writer) compressBlock(ltree, dtree []node) {
	for _, s := range z.syms {
		lc := int(s.lc)
		if s.dist == 0 {
			z.sendCode(lc, ltree)
			continue
		}
		code := int(lengthCode[lc])
		z.sendCode(code+literals+1, ltree)
		if e := extraLBits[code]; e != 0 {
			z.sendBits(lc-baseLength[code], e)
		}
		dist := int(s.dist) - 1
		code = dCode(dist)
		z.sendCode(code, dtree)
		if e := extraDBits[code]; e != 0 {
			z.sendBits(dist-baseDist[code], e)
		}
	}
	z.sendCode(endBlock, ltree)
}
