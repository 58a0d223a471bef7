package fusefs

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/repofs/repofs/repo"
)

// heapInuse is the heap in use after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestRefsTreeMemory: a mirror's refs, read a directory at a time as a
// walk reads them, cost the tree no more than refBytes per ref beyond the
// ref's own name, and a node for every directory, as a walk leaves the
// kernel holding, no more than nodeBytes each.
func TestRefsTreeMemory(t *testing.T) {
	const n, refBytes, nodeBytes = 50000, 150, 32
	name := func(i int) string { return fmt.Sprintf("org.example.App%06d", i) }
	before := heapInuse()
	s := &refsState{tree: newStubTree(), nodes: newRefNodes()}
	s.tree.root.node = rawRootNode
	c := repo.Checksum{1}
	// As the loader reports them: app/ with a stub per application, then
	// each application's directory and its ref.
	s.tree.loaded("heads")
	for i := range n {
		s.tree.addStubTo("heads/app/"+name(i), false)
	}
	s.tree.loaded("heads/app")
	for i := range n {
		s.tree.addStubTo("heads/app/"+name(i)+"/x86_64", false)
		s.tree.loaded("heads/app/" + name(i))
		s.tree.setTo("heads/app/"+name(i)+"/x86_64/stable", c, false)
		s.tree.loaded("heads/app/" + name(i) + "/x86_64")
	}
	treeOnly := heapInuse() - before
	heads := s.nodes.lookup(rawRootNode, s.tree.find("heads"), c)
	app := s.nodes.lookup(heads, s.tree.find("heads/app"), c)
	for i := range n {
		d := s.nodes.lookup(app, s.tree.find("heads/app/"+name(i)), c)
		s.nodes.lookup(d, s.tree.find("heads/app/"+name(i)+"/x86_64"), c)
	}
	used := heapInuse() - before
	names := uint64(n * len(name(0)))
	perRef := float64(treeOnly-names) / n
	perNode := float64(used-treeOnly) / (2 * n)
	t.Logf("%d refs: tree %.0f B/ref beyond the name, %.0f B/node of the kernel's, %.0f B/ref in all",
		n, perRef, perNode, float64(used)/n)
	if perRef > refBytes || perNode > nodeBytes {
		t.Errorf("%.0f B/ref beyond the name and %.0f B/node, want at most %d and %d", perRef, perNode, refBytes, nodeBytes)
	}
	runtime.KeepAlive(s)
}

// TestRefEntryKids: the entries of a directory, inserted and deleted at
// any place across the steps of their array's capacity, are those of a
// plain slice.
func TestRefEntryKids(t *testing.T) {
	var e refEntry
	var model []string
	for i := range 3000 {
		if i%3 == 2 && len(model) > 0 {
			j := (i * 7) % len(model)
			e.deleteKid(j)
			model = slices.Delete(model, j, j+1)
		} else {
			name := fmt.Sprint("k", i)
			j := (i * 13) % (len(model) + 1)
			e.insertKid(j, newRefEntry(name, uint32(i)))
			model = slices.Insert(model, j, name)
		}
		if !slices.EqualFunc(e.kids(), model, func(k refEntry, name string) bool { return k.name() == name }) {
			t.Fatalf("step %d: %d entries, want %d", i, e.nkids, len(model))
		}
	}
	for len(model) > 0 {
		e.deleteKid(0)
		model = model[1:]
	}
	got := make([]string, 0, e.nkids)
	for _, k := range e.kids() {
		got = append(got, k.name())
	}
	if !slices.Equal(got, model) || e.kp != nil {
		t.Errorf("entries %q, want %q", got, model)
	}
}
