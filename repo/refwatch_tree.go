package repo

import (
	"hash/maphash"
	"slices"
	"strings"
)

// refTree is what a watch knows of refs/: its directories, read or not,
// and its refs, as nodes in one slice that holds no pointer, their names
// in one byte arena. A mirror's refs/ holds a hundred thousand refs in
// twice as many directories; a map keyed by path, per directory and per
// watch descriptor, costs several times the refs' names in headers,
// buckets and copies of the same path prefixes.
type refTree struct {
	// nodes and sums are in chunks, so that they grow by a chunk at a
	// time: no half-empty slice after a doubling, no copy of it.
	nodes    [][]treeNode
	count    uint32 // the nodes made, free or not
	freeNode uint32 // the first free node, chained through next
	sums     [][]Checksum
	nsums    uint32
	freeSums []uint32
	names    []byte
	// liveNames is the length of every live node's name: the arena is
	// compacted once it is twice that.
	liveNames int
	// common finds names met lately in the arena ("x86_64", "stable"),
	// so that a mirror's thousands of them are stored once; it is
	// emptied whenever full, which bounds it however many names differ.
	common map[string]uint32
	// big indexes the children of the directories that have many, by
	// name; the others are found along the chain of first child and
	// next sibling.
	big  map[uint32]*idIndex
	wds  wdMap // the watched directories, by watch descriptor
	seed maphash.Seed
	// dirs counts the directories read (nodeDir), refs/ included.
	dirs int
}

// treeNode is a ref or a directory under refs/.
type treeNode struct {
	nameOff uint32
	parent  uint32
	next    uint32 // the next sibling, in a directory that is not big
	// aux is, for a directory, its first child (when not big); for a
	// ref, the index of its commit in sums.
	aux     uint32
	wd      int32 // a directory's watch descriptor, or -1
	nameLen uint8 // NAME_MAX is 255
	kind    uint8
}

const noNode = ^uint32(0)

// Node kinds.
const (
	nodeFree  uint8 = iota
	nodeRef         // a ref file
	nodeAlias       // a ref that is a symbolic link
	nodeDir         // a directory read
	nodeStub        // a directory known and not read (lazy watches)
)

const (
	// bigDir is how many children make a directory index them.
	bigDir = 32
	// commonNames bounds refTree.common.
	commonNames = 1024
	rootNode    = 0
)

// newRefTree returns a tree of refs/ alone, of kind root (nodeDir or
// nodeStub).
func newRefTree(root uint8) *refTree {
	t := &refTree{freeNode: noNode, common: map[string]uint32{}, big: map[uint32]*idIndex{},
		seed: maphash.MakeSeed()}
	*t.n(t.newNode()) = treeNode{parent: noNode, next: noNode, aux: noNode, wd: -1, kind: root}
	if root == nodeDir {
		t.dirs = 1
	}
	return t
}

func (t *refTree) isDir(id uint32) bool {
	k := t.n(id).kind
	return k == nodeDir || k == nodeStub
}

func (t *refTree) isRef(id uint32) bool {
	k := t.n(id).kind
	return k == nodeRef || k == nodeAlias
}

func (t *refTree) nameBytes(id uint32) []byte {
	n := t.n(id)
	return t.names[n.nameOff : n.nameOff+uint32(n.nameLen)]
}

func (t *refTree) name(id uint32) string { return string(t.nameBytes(id)) }

func (t *refTree) sum(id uint32) Checksum { return *t.sumOf(id) }

// path returns the path under refs/ of the node id.
func (t *refTree) path(id uint32) string {
	if id == rootNode {
		return ""
	}
	n := 0
	for i := id; i != rootNode; i = t.n(i).parent {
		n += int(t.n(i).nameLen) + 1
	}
	b := make([]byte, n-1)
	pos := len(b)
	for i := id; i != rootNode; i = t.n(i).parent {
		name := t.nameBytes(i)
		pos -= len(name)
		copy(b[pos:], name)
		if pos > 0 {
			pos--
			b[pos] = '/'
		}
	}
	return string(b)
}

// find returns the node at the path p under refs/, or noNode.
func (t *refTree) find(p string) uint32 {
	id := uint32(rootNode)
	for p != "" && id != noNode {
		var name string
		name, p, _ = strings.Cut(p, "/")
		id = t.child(id, name)
	}
	return id
}

// child returns the child name of the directory d, or noNode.
func (t *refTree) child(d uint32, name string) uint32 {
	if !t.isDir(d) {
		return noNode
	}
	if x := t.big[d]; x != nil {
		return x.find(maphash.String(t.seed, name), func(id uint32) bool { return string(t.nameBytes(id)) == name })
	}
	for k := t.n(d).aux; k != noNode; k = t.n(k).next {
		if string(t.nameBytes(k)) == name {
			return k
		}
	}
	return noNode
}

// each calls fn on every child of d; fn may not change d's children.
func (t *refTree) each(d uint32, fn func(id uint32)) {
	if x := t.big[d]; x != nil {
		for _, id := range x.slots {
			if id != noNode {
				fn(id)
			}
		}
		return
	}
	for k := t.n(d).aux; k != noNode; k = t.n(k).next {
		fn(k)
	}
}

// children returns the children of d.
func (t *refTree) children(d uint32) []uint32 {
	var out []uint32
	t.each(d, func(id uint32) { out = append(out, id) })
	return out
}

func (t *refTree) nameHash(id uint32) uint64 { return maphash.Bytes(t.seed, t.nameBytes(id)) }

// add makes a node of kind named name in the directory d, which has no
// child of that name.
func (t *refTree) add(d uint32, name string, kind uint8) uint32 {
	n := treeNode{parent: d, next: noNode, aux: noNode, wd: -1, kind: kind}
	n.nameOff, n.nameLen = t.intern(name)
	t.liveNames += len(name)
	if kind == nodeRef || kind == nodeAlias {
		n.aux = t.newSum()
	}
	if kind == nodeDir {
		t.dirs++
	}
	id := t.freeNode
	if id != noNode {
		t.freeNode = t.n(id).next
		*t.n(id) = n
	} else {
		id = t.newNode()
		*t.n(id) = n
	}
	t.link(d, id)
	return id
}

func (t *refTree) link(d, id uint32) {
	if x := t.big[d]; x != nil {
		x.add(t.nameHash(id), id, t.nameHash)
		return
	}
	t.n(id).next = t.n(d).aux
	t.n(d).aux = id
	count := 0
	for k := t.n(d).aux; k != noNode; k = t.n(k).next {
		count++
	}
	if count >= bigDir {
		x := &idIndex{}
		for k := t.n(d).aux; k != noNode; {
			next := t.n(k).next
			t.n(k).next = noNode
			x.add(t.nameHash(k), k, t.nameHash)
			k = next
		}
		t.n(d).aux = noNode
		t.big[d] = x
	}
}

func (t *refTree) unlink(d, id uint32) {
	if x := t.big[d]; x != nil {
		x.remove(t.nameHash(id), id, t.nameHash)
		if x.n == 0 {
			delete(t.big, d)
		}
		return
	}
	for p := &t.n(d).aux; *p != noNode; p = &t.n(*p).next {
		if *p == id {
			*p = t.n(id).next
			return
		}
	}
}

// remove unlinks the node id and frees it and everything below it,
// calling gone on each first, deepest first.
func (t *refTree) remove(id uint32, gone func(id uint32)) {
	t.unlink(t.n(id).parent, id)
	t.free(id, gone)
	t.compactNames()
}

func (t *refTree) free(id uint32, gone func(id uint32)) {
	if t.isDir(id) {
		for _, k := range t.children(id) {
			t.free(k, gone)
		}
		delete(t.big, id)
	}
	if gone != nil {
		gone(id)
	}
	n := t.n(id)
	switch n.kind {
	case nodeRef, nodeAlias:
		t.freeSums = append(t.freeSums, n.aux)
	case nodeDir:
		t.dirs--
	}
	if n.wd >= 0 {
		t.setWd(id, -1)
	}
	t.liveNames -= int(n.nameLen)
	*n = treeNode{kind: nodeFree, next: t.freeNode, wd: -1}
	t.freeNode = id
}

func (t *refTree) newSum() uint32 {
	if k := len(t.freeSums); k > 0 {
		i := t.freeSums[k-1]
		t.freeSums = t.freeSums[:k-1]
		return i
	}
	if t.nsums&chunkMask == 0 {
		t.sums = append(t.sums, make([]Checksum, chunkSize))
	}
	t.nsums++
	return t.nsums - 1
}

const (
	chunkBits = 11
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
)

// n returns the node id.
func (t *refTree) n(id uint32) *treeNode { return &t.nodes[id>>chunkBits][id&chunkMask] }

// size is how many nodes were made, free or not.
func (t *refTree) size() uint32 { return t.count }

// newNode returns a node never used.
func (t *refTree) newNode() uint32 {
	if t.count&chunkMask == 0 {
		t.nodes = append(t.nodes, make([]treeNode, chunkSize))
	}
	t.count++
	return t.count - 1
}

func (t *refTree) sumOf(id uint32) *Checksum {
	i := t.n(id).aux
	return &t.sums[i>>chunkBits][i&chunkMask]
}

// setKind turns a directory into a directory of another kind, or a ref
// into one of another kind.
func (t *refTree) setKind(id uint32, kind uint8) {
	n := t.n(id)
	if n.kind == nodeDir {
		t.dirs--
	}
	if kind == nodeDir {
		t.dirs++
	}
	n.kind = kind
}

func (t *refTree) setSum(id uint32, c Checksum) { *t.sumOf(id) = c }

// byWd returns the directory watched as wd, or noNode.
func (t *refTree) byWd(wd int32) uint32 { return t.wds.get(wd) }

// setWd records that the directory id is watched as wd (-1: not
// watched). A directory watched as wd before is not any more: the kernel
// gives the same descriptor to a directory moved.
func (t *refTree) setWd(id uint32, wd int32) {
	if old := t.n(id).wd; old >= 0 {
		t.wds.del(old)
		t.n(id).wd = -1
	}
	if wd < 0 {
		return
	}
	if prev := t.byWd(wd); prev != noNode {
		t.n(prev).wd = -1
	}
	t.n(id).wd = wd
	t.wds.set(wd, id)
}

// intern returns where name is in the arena, adding it if it is not
// among the names met lately.
func (t *refTree) intern(name string) (uint32, uint8) {
	if off, ok := t.common[name]; ok {
		return off, uint8(len(name))
	}
	off := uint32(len(t.names))
	t.names = append(t.names, name...)
	if len(t.common) >= commonNames {
		clear(t.common)
	}
	t.common[name] = off
	return off, uint8(len(name))
}

// compactNames rewrites the arena once most of it is names of nodes
// gone.
func (t *refTree) compactNames() {
	if len(t.names) < 1<<16 || len(t.names) < 2*t.liveNames {
		return
	}
	old := t.names
	t.names = make([]byte, 0, t.liveNames)
	clear(t.common)
	for i := range t.size() {
		n := t.n(i)
		if n.kind != nodeFree && n.nameLen > 0 {
			n.nameOff, _ = t.intern(string(old[n.nameOff : n.nameOff+uint32(n.nameLen)]))
		}
	}
}

// treeOfScan returns the tree of what a full look found, and its
// aliases.
func treeOfScan(s *refWalk) (*refTree, map[string]string) {
	t := newRefTree(nodeDir)
	aliases := map[string]string{}
	slices.SortFunc(s.dirs, func(a, b scannedDir) int { return strings.Compare(a.path, b.path) }) // parents first
	for _, d := range s.dirs {
		id := uint32(rootNode)
		if d.path != "" {
			if id = t.addPath(d.path, nodeDir); id == noNode {
				continue
			}
		}
		t.setWd(id, d.wd)
	}
	for _, d := range s.stubs {
		t.addPath(d, nodeStub)
	}
	for _, r := range s.refs {
		kind := nodeRef
		if r.alias {
			kind = nodeAlias
			aliases[r.path] = r.target
		}
		if id := t.addPath(r.path, kind); id != noNode {
			t.setSum(id, r.sum)
		}
	}
	return t, aliases
}

// addPath adds a node of kind at p, whose parent directory t knows and
// which t does not know; it returns the node, or noNode if t knows no
// parent or knows p.
func (t *refTree) addPath(p string, kind uint8) uint32 {
	dir, name := splitRefPath(p)
	d := t.find(dir)
	if d == noNode || !t.isDir(d) || t.child(d, name) != noNode {
		return noNode
	}
	return t.add(d, name, kind)
}

// splitRefPath splits p under refs/ into its directory and its name.
func splitRefPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// walk calls fn on every node below d (at path p), parents first, with
// its path.
func (t *refTree) walk(d uint32, p string, fn func(id uint32, p string)) {
	t.each(d, func(k uint32) {
		kp := join(p, t.name(k))
		fn(k, kp)
		if t.isDir(k) {
			t.walk(k, kp, fn)
		}
	})
}

// kindAt returns the kind of the node at p in t, nodeFree if none.
func (t *refTree) kindAt(p string) uint8 {
	if id := t.find(p); id != noNode {
		return t.n(id).kind
	}
	return nodeFree
}
