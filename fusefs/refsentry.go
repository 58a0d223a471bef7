package fusefs

import (
	"math"
	"slices"
	"strings"
	"unsafe"
)

// refEntry is a directory (sum == 0), a directory whose entries are not
// read yet (sum == stubSum, see repo.RefLoader), or a ref. It takes 32
// bytes, two thirds of a string and a slice: a mirror has three entries
// per ref (app/ID/ARCH/BRANCH below app/), most of them alone in their
// directories. So the name is a pointer to its bytes and a length, and
// the entries in a directory an array whose capacity follows from their
// number (kidsCap), both read through unsafe.String and unsafe.Slice.
type refEntry struct {
	np    *byte     // the name's bytes (name)
	kp    *refEntry // the first entry in the directory (kids)
	nkids uint32
	sum   uint32
	// node is the kernel's node for the entry (see refNodes), 0 if it has
	// none; an entry that changes kind or value loses it, so that the
	// kernel's next lookup gets a new node with the new value.
	node uint32
	nl   uint16 // the name's length: at most NAME_MAX
}

// newRefEntry returns an entry named name, which it keeps.
func newRefEntry(name string, sum uint32) refEntry {
	return refEntry{np: unsafe.StringData(name), nl: uint16(min(len(name), math.MaxUint16)), sum: sum}
}

func (e *refEntry) name() string { return unsafe.String(e.np, e.nl) }

// kids returns the entries in the directory e, sorted by name; the slice
// is valid until the directory changes.
func (e *refEntry) kids() []refEntry { return unsafe.Slice(e.kp, e.nkids) }

// kidsCap is the length of the array that holds n entries: exact up to
// eight, then an eighth more at each step, so that a directory growing
// one entry at a time is copied O(log n) times and wastes an eighth at
// most.
func kidsCap(n uint32) uint32 {
	c := min(n, 8)
	for c < n {
		c += c / 8
	}
	return c
}

// setKids makes s, whose capacity must be kidsCap(len(s)), the entries.
func (e *refEntry) setKids(s []refEntry) {
	e.nkids = uint32(len(s))
	if len(s) == 0 {
		e.kp = nil
		return
	}
	e.kp = unsafe.SliceData(s)
}

// insertKid puts k at index i of the entries.
func (e *refEntry) insertKid(i int, k refEntry) {
	old := e.kids()
	n := e.nkids
	if kidsCap(n+1) != kidsCap(n) {
		s := make([]refEntry, n+1, kidsCap(n+1))
		copy(s, old[:i])
		copy(s[i+1:], old[i:])
		s[i] = k
		e.setKids(s)
		return
	}
	s := unsafe.Slice(e.kp, n+1)
	copy(s[i+1:], s[i:n])
	s[i] = k
	e.nkids = n + 1
}

// deleteKid removes the entry at index i.
func (e *refEntry) deleteKid(i int) {
	old := e.kids()
	n := e.nkids
	if kidsCap(n-1) != kidsCap(n) {
		s := make([]refEntry, 0, kidsCap(n-1))
		s = append(append(s, old[:i]...), old[i+1:]...)
		e.setKids(s)
		return
	}
	copy(old[i:], old[i+1:])
	old[n-1] = refEntry{} // nothing kept alive by the unused end
	e.nkids = n - 1
}

// clearKids removes every entry.
func (e *refEntry) clearKids() { e.kp, e.nkids = nil, 0 }

func (e *refEntry) isDir() bool { return e.sum == 0 || e.sum == stubSum }

func (e *refEntry) isStub() bool { return e.sum == stubSum }

// child returns the entry named name in e, and where it is or would go.
func (e *refEntry) child(name string) (*refEntry, int) {
	kids := e.kids()
	i, ok := slices.BinarySearchFunc(kids, name, func(k refEntry, n string) int { return strings.Compare(k.name(), n) })
	if !ok {
		return nil, i
	}
	return &kids[i], i
}
