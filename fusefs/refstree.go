package fusefs

import (
	"slices"
	"strings"

	"github.com/repofs/repofs/repo"
)

// refsTree is refs/ as the mount shows it: a tree of entries by path
// component, each directory's entries sorted by name, so that a
// component is stored once however many refs lie below it and a listing
// needs no sort. A mirror holds a hundred thousand refs
// (app/ID/ARCH/BRANCH), most of them alone in their directories: an entry
// (refEntry, 32 bytes) is a name, the entries in it and an index into a
// table of checksums.
// A directory exists while a ref is below it, or if it is one of topDirs.
// Paths are under refs/: "heads/os/main", "" is refs/ itself.
type refsTree struct {
	root refEntry
	sums []repo.Checksum // by refEntry.sum-1
	free []uint32        // unused indexes of sums
	n    int             // refs
	// names interns the short names that repeat across a mirror's refs:
	// architectures and branches.
	names map[string]string
}

// stubSum marks a directory whose entries are not read yet.
const stubSum = ^uint32(0)

// internMax is the longest name interned: "x86_64", "stable", "master";
// an application ID is usually longer, and unique.
const internMax = 12

// topDirs are always shown under refs/, as `ostree init` creates them.
var topDirs = []string{"heads", "mirrors", "remotes"}

func newRefsTree() *refsTree {
	t := &refsTree{names: map[string]string{}}
	kids := make([]refEntry, 0, kidsCap(uint32(len(topDirs))))
	for _, d := range topDirs { // sorted
		kids = append(kids, newRefEntry(d, 0))
	}
	t.root.setKids(kids)
	return t
}

// newStubTree is the tree of a lazy watch before its first event: the
// top directories are stubs.
func newStubTree() *refsTree {
	t := newRefsTree()
	for i := range t.root.kids() {
		t.root.kids()[i].sum = stubSum
	}
	return t
}

// find returns the entry at p, or nil; it is valid until the tree
// changes.
func (t *refsTree) find(p string) *refEntry {
	e := &t.root
	if p == "" {
		return e
	}
	for comp := range strings.SplitSeq(p, "/") {
		if !e.isDir() {
			return nil
		}
		if e, _ = e.child(comp); e == nil {
			return nil
		}
	}
	return e
}

func (t *refsTree) isDir(p string) bool {
	e := t.find(p)
	return e != nil && e.isDir()
}

// ref returns the commit of the ref at p.
func (t *refsTree) ref(p string) (repo.Checksum, bool) {
	e := t.find(p)
	if e == nil || e.isDir() {
		return repo.Checksum{}, false
	}
	return t.sums[e.sum-1], true
}

// along returns the kernel's nodes (refEntry.node) of the directories
// on the way to p: refs/'s first, then those below it, up to p's
// directory or the first missing.
func (t *refsTree) along(p string) []uint32 {
	e := &t.root
	nodes := []uint32{e.node}
	dir, _ := splitPath(p)
	if dir == "" {
		return nodes
	}
	for comp := range strings.SplitSeq(dir, "/") {
		if e, _ = e.child(comp); e == nil || !e.isDir() {
			break
		}
		nodes = append(nodes, e.node)
	}
	return nodes
}

// refs is the number of refs.
func (t *refsTree) refs() int { return t.n }

func (t *refsTree) intern(name string) string {
	if len(name) > internMax {
		return strings.Clone(name)
	}
	if s, ok := t.names[name]; ok {
		return s
	}
	s := strings.Clone(name)
	t.names[s] = s
	return s
}

func (t *refsTree) newSum(c repo.Checksum) uint32 {
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		t.sums[i] = c
		return i + 1
	}
	t.sums = append(t.sums, c)
	return uint32(len(t.sums))
}

func (t *refsTree) freeSum(s uint32) {
	t.sums[s-1] = repo.Checksum{}
	t.free = append(t.free, s-1)
}

// mkdirs returns the directory at dir, made if need be with those above
// it, and the paths of those made.
func (t *refsTree) mkdirs(dir string) (*refEntry, []string) {
	e := &t.root
	var made []string
	if dir != "" {
		end := 0
		for comp := range strings.SplitSeq(dir, "/") {
			end += len(comp)
			k, i := e.child(comp)
			switch {
			case k == nil:
				e.insertKid(i, newRefEntry(t.intern(comp), 0))
				made = append(made, dir[:end])
				k = &e.kids()[i]
			case !k.isDir():
				// A ref gives way to a directory of its name: the
				// deletions of an event come first, so this is a
				// ref the event forgot to delete.
				t.freeSum(k.sum)
				t.n--
				k.sum, k.node = 0, 0
				made = append(made, dir[:end])
			}
			e = k
			end++ // the slash
		}
	}
	return e, made
}

func splitPath(p string) (dir, name string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

// set points the ref at p to c and returns the paths whose entries
// changed: p and any directory made for it, deepest first.
func (t *refsTree) set(p string, c repo.Checksum) []string { return t.setTo(p, c, true) }

// setTo is set, returning nil unless report: a directory read for the
// first time changes nothing the kernel knows.
func (t *refsTree) setTo(p string, c repo.Checksum, report bool) []string {
	dir, name := splitPath(p)
	e, made := t.mkdirs(dir)
	k, i := e.child(name)
	switch {
	case k == nil:
		e.insertKid(i, newRefEntry(t.intern(name), t.newSum(c)))
		t.n++
	case k.isDir():
		if k.nkids > 0 || k.isStub() || p == "heads" || p == "mirrors" || p == "remotes" {
			return nil // refs below: the directory stays
		}
		k.sum, k.node = t.newSum(c), 0
		t.n++
	case t.sums[k.sum-1] == c:
		return nil
	default:
		t.sums[k.sum-1], k.node = c, 0
	}
	if !report {
		return nil
	}
	slices.Reverse(made)
	return append([]string{p}, made...)
}

// remove deletes the ref at p and returns the paths whose entries
// changed: p and any directory left empty, which goes with it, deepest
// first.
func (t *refsTree) remove(p string) []string {
	comps, path, e, k, i := t.locate(p)
	if e == nil {
		return nil
	}
	if k == nil || k.isDir() {
		return nil
	}
	t.freeSum(k.sum)
	t.n--
	e.deleteKid(i)
	// Directories left empty go, up to the top ones.
	return append([]string{p}, t.prune(comps, path, e)...)
}

// addStub makes the directory p, whose entries are not read yet, and
// returns the paths whose entries changed: p and any directory made for
// it, deepest first. A directory there already stays as it is.
func (t *refsTree) addStub(p string) []string { return t.addStubTo(p, true) }

// addStubTo is addStub, returning nil unless report (see setTo).
func (t *refsTree) addStubTo(p string, report bool) []string {
	dir, name := splitPath(p)
	e, made := t.mkdirs(dir)
	k, i := e.child(name)
	switch {
	case k == nil:
		e.insertKid(i, newRefEntry(t.intern(name), stubSum))
	case k.isDir():
		return nil
	default: // a ref the changes forgot to delete
		t.freeSum(k.sum)
		t.n--
		k.sum, k.node = stubSum, 0
	}
	if !report {
		return nil
	}
	slices.Reverse(made)
	return append([]string{p}, made...)
}

// loaded marks the stub at p read: its entries are in the tree.
func (t *refsTree) loaded(p string) {
	if e := t.find(p); e != nil && e.isStub() {
		e.sum = 0
	}
}

// isStub tells whether p is a directory whose entries are not read.
func (t *refsTree) isStub(p string) bool {
	e := t.find(p)
	return e != nil && e.isStub()
}

// removeDir deletes the directory at p with everything below it and
// returns the paths whose entries changed, as remove does. A top
// directory stays, emptied.
func (t *refsTree) removeDir(p string) []string {
	comps, path, e, k, i := t.locate(p)
	if e == nil {
		return nil
	}
	if k == nil || !k.isDir() {
		return nil
	}
	t.drop(k)
	if len(comps) == 1 { // a top directory
		k.clearKids()
		k.sum = 0
		return []string{p}
	}
	e.deleteKid(i)
	return append([]string{p}, t.prune(comps, path, e)...)
}

// locate walks to p: its components, the directories above its parent
// (path), its parent e, and its entry k at index i of e.kids (k nil if
// absent, i where it would go). e is nil when a directory on the way is
// missing or not a directory.
func (t *refsTree) locate(p string) (comps []string, path []*refEntry, e, k *refEntry, i int) {
	comps = strings.Split(p, "/")
	path = make([]*refEntry, 0, len(comps)+1)
	e = &t.root
	for _, comp := range comps[:len(comps)-1] {
		path = append(path, e)
		if e, _ = e.child(comp); e == nil || !e.isDir() {
			return comps, path, nil, nil, 0
		}
	}
	k, i = e.child(comps[len(comps)-1])
	return comps, path, e, k, i
}

// drop frees the refs below e.
func (t *refsTree) drop(e *refEntry) {
	for i := range e.kids() {
		k := &e.kids()[i]
		if k.isDir() {
			t.drop(k)
		} else {
			t.freeSum(k.sum)
			t.n--
		}
	}
}

// prune removes the directories left empty above the entry comps named,
// whose parent is e and whose ancestors are path, up to the top ones, and
// returns their paths, deepest first.
func (t *refsTree) prune(comps []string, path []*refEntry, e *refEntry) []string {
	var changed []string
	for d := len(comps) - 1; d >= 2 && e.nkids == 0; d-- {
		parent := path[d-1]
		_, j := parent.child(comps[d-1])
		parent.deleteKid(j)
		changed = append(changed, strings.Join(comps[:d], "/"))
		e = parent
	}
	return changed
}
