package fusefs

import (
	"math"
	"slices"
	"strings"
	"unsafe"

	"github.com/repofs/repofs/repo"
)

// refNodes are the kernel's nodes of refs/, which the mount serves itself
// (rawRefs) rather than through go-fuse's node tree: a walk of a mirror's
// refs/ makes the kernel hold two directories per ref, and a go-fuse
// Inode for each would cost the mount more than the rest of its view of
// the ref. A node is an index into a slice; the kernel's node ID is
// rawRefsBase plus it. A node lives while the kernel holds it (a lookup
// count, which FORGET lowers) or while a node below it does (its path is
// made of its ancestors' names), and its index is reused only after that.
// A ref's node keeps the value it was looked up with: a moved ref gets a
// new node (refEntry.node is cleared), so a symlink's target, which the
// kernel caches, never changes. Callers hold refsState.mu.
type refNodes struct {
	n    []refNode // by index; 0 is unused, rawRootNode is refs/
	free uint32    // the first free index, 0 if none; chained by parent
	// sums holds the values of ref nodes, which a walk does not make.
	sums map[uint32]repo.Checksum
	live int
}

// refNode is one node: a directory or a ref (isRef), in 24 bytes.
type refNode struct {
	np      *byte // its name's bytes, shared with its refEntry (name)
	parent  uint32
	lookups uint32 // the kernel's; saturated, it never drops
	kids    uint32 // live nodes whose parent this is
	nl      uint16 // its name's length
	flags   uint16 // isRef, free
}

const (
	nodeRef = 1 << iota
	nodeFree
)

func (n *refNode) name() string { return unsafe.String(n.np, n.nl) }

func (n *refNode) isRef() bool { return n.flags&nodeRef != 0 }

const (
	// rawRefsBase is added to a node's index to make its node ID: far
	// above go-fuse's own, which count up from 2 (fs/identitytable.go),
	// and below its poll node (^0).
	rawRefsBase = uint64(1) << 62
	rawRootNode = 1
)

func newRefNodes() *refNodes {
	t := &refNodes{n: make([]refNode, 2), sums: map[uint32]repo.Checksum{}}
	t.n[rawRootNode].lookups = math.MaxUint32 // never forgotten
	t.live = 1
	return t
}

// isRefsID tells whether a node ID is one of refs/.
func isRefsID(id uint64) bool { return id >= rawRefsBase && id-rawRefsBase <= math.MaxUint32 }

func refsID(i uint32) uint64 { return rawRefsBase + uint64(i) }

// node returns the live node of a node ID, or nil.
func (t *refNodes) node(id uint64) (uint32, *refNode) {
	if !isRefsID(id) {
		return 0, nil
	}
	i := uint32(id - rawRefsBase)
	if i == 0 || int(i) >= len(t.n) || t.n[i].flags&nodeFree != 0 {
		return 0, nil
	}
	return i, &t.n[i]
}

// path returns the path under refs/ of node i.
func (t *refNodes) path(i uint32) string {
	var comps []string
	for ; i != rawRootNode; i = t.n[i].parent {
		comps = append(comps, t.n[i].name())
	}
	slices.Reverse(comps)
	return strings.Join(comps, "/")
}

// entry returns the entry of t at node i's path, or nil, without making
// the path.
func (t *refNodes) entry(tree *refsTree, i uint32) *refEntry {
	var stack [16]uint32
	up := stack[:0]
	for ; i != rawRootNode; i = t.n[i].parent {
		up = append(up, i)
	}
	e := &tree.root
	for k := len(up) - 1; k >= 0; k-- {
		if !e.isDir() {
			return nil
		}
		if e, _ = e.child(t.n[up[k]].name()); e == nil {
			return nil
		}
	}
	return e
}

// depth is how many directories node i is below refs/.
func (t *refNodes) depth(i uint32) int {
	d := 0
	for ; i != rawRootNode; i = t.n[i].parent {
		d++
	}
	return d
}

// lookup counts a lookup of e in the directory node parent, which gives
// e a node if it has none; c is e's value if e is a ref.
func (t *refNodes) lookup(parent uint32, e *refEntry, c repo.Checksum) uint32 {
	if i := e.node; i != 0 {
		if n := &t.n[i]; n.lookups < math.MaxUint32 {
			n.lookups++
		}
		return i
	}
	n := refNode{np: e.np, nl: e.nl, parent: parent, lookups: 1}
	if !e.isDir() {
		n.flags = nodeRef
	}
	var i uint32
	if i = t.free; i != 0 {
		t.free = t.n[i].parent
		t.n[i] = n
	} else {
		t.n = append(t.n, n)
		i = uint32(len(t.n) - 1)
	}
	t.n[parent].kids++
	t.live++
	if n.isRef() {
		t.sums[i] = c
	}
	e.node = i
	return i
}

// sum returns the value of the ref node i.
func (t *refNodes) sum(i uint32) repo.Checksum { return t.sums[i] }

// forget takes count lookups off node i; a node left with none, and no
// live node below, is freed, and so in turn may its directory be.
// detach is called with each node about to be freed, while its path is
// still good, to clear its refEntry.node.
func (t *refNodes) forget(i uint32, count uint64, detach func(i uint32)) {
	n := &t.n[i]
	switch {
	case n.lookups == math.MaxUint32: // saturated: kept for good
		return
	case count >= uint64(n.lookups):
		n.lookups = 0
	default:
		n.lookups -= uint32(count)
	}
	for i != rawRootNode {
		n := &t.n[i]
		if n.lookups > 0 || n.kids > 0 {
			return
		}
		detach(i)
		parent := n.parent
		if n.isRef() {
			delete(t.sums, i)
		}
		*n = refNode{parent: t.free, flags: nodeFree}
		t.free = i
		t.live--
		t.n[parent].kids--
		i = parent
	}
}
