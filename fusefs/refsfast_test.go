package fusefs

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/repo"
)

// fastTestState returns a refsState, not mounted, holding a few refs of
// the mirror's shape and others, and a directory not read yet.
func fastTestState(t *testing.T) *refsState {
	t.Helper()
	f := &FS{mounted: time.Unix(1700000000, 123456789), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s := newRefsState(f)
	s.tree = newRefsTree()
	s.tree.root.node = rawRootNode
	sum := func(i int) repo.Checksum {
		var c repo.Checksum
		for k := range c {
			c[k] = byte(i*31 + k)
		}
		return c
	}
	for i := range 40 {
		s.tree.set(fmt.Sprintf("heads/app/org.example.App%06d/x86_64/stable", i), sum(i))
	}
	s.tree.set("heads/main", sum(100))
	s.tree.set("heads/a-name-longer-than-the-interned-ones", sum(101))
	s.tree.set("heads/x", sum(102))
	s.tree.set("remotes/origin/os/x86_64/main", sum(103))
	s.tree.addStub("heads/unread")
	return s
}

// protocolServer returns a protocol server answering for s as the mount
// does, through rawRefs, after an INIT like the kernel's.
func fastTestServer(t *testing.T, s *refsState) *fuse.ProtocolServer {
	t.Helper()
	opts := &fuse.MountOptions{}
	ps := fuse.NewProtocolServer(&rawRefs{RawFileSystem: fuse.NewDefaultRawFileSystem(), s: s}, opts)
	in := fuse.InitIn{InHeader: fuse.InHeader{Opcode: fuseOpInit, Unique: 1}, Major: 7, Minor: 41, MaxReadAhead: 1 << 20,
		Flags: fuse.CAP_READDIRPLUS | fuse.CAP_ASYNC_READ}
	in.Length = uint32(unsafe.Sizeof(in))
	out := make([]byte, 4096)
	if _, st := ps.HandleRequest([][]byte{structBytes(&in)}, [][]byte{out}); !st.Ok() {
		t.Fatalf("INIT: %v", st)
	}
	return ps
}

// readReq returns a READDIR(PLUS) request of node at off for size bytes.
func readReq(unique, node, off uint64, size uint32, plus bool) []byte {
	in := fuse.ReadIn{InHeader: fuse.InHeader{Opcode: fuseOpReaddir, Unique: unique, NodeId: node}, Offset: off, Size: size}
	if plus {
		in.Opcode = fuseOpReaddirplus
	}
	in.Length = uint32(unsafe.Sizeof(in))
	return bytes.Clone(structBytes(&in))
}

// plusDirs returns the node IDs of the directories a READDIRPLUS reply
// gives, and how many entries it holds.
func plusDirs(t *testing.T, reply []byte) (ids []uint64, entries int) {
	t.Helper()
	p := reply[outHeaderSize:]
	for len(p) > 0 {
		if len(p) < entryOutSize+direntSize {
			t.Fatalf("truncated READDIRPLUS record: %d bytes", len(p))
		}
		eo := (*fuse.EntryOut)(unsafe.Pointer(&p[0]))
		nl := int(*(*uint32)(unsafe.Pointer(&p[entryOutSize+16])))
		if eo.NodeId != 0 {
			ids = append(ids, eo.NodeId)
		}
		entries++
		p = p[min(len(p), entryOutSize+direntSize+(nl+7)&^7):]
	}
	return ids, entries
}

// nodesOf is the kernel's nodes of s as comparable values.
func nodesOf(s *refsState) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b bytes.Buffer
	for i, n := range s.nodes.n {
		fmt.Fprintf(&b, "%d %q p%d l%d k%d f%d;", i, n.name(), n.parent, n.lookups, n.kids, n.flags)
	}
	fmt.Fprintf(&b, "live %d free %d ahead %d", s.nodes.live, s.nodes.free, len(s.ahead))
	return b.String()
}

// TestFastReplyMatchesProtocolServer: the fast path's replies to
// READDIRPLUS and READDIR are those the protocol server gives through
// rawRefs, byte for byte, at every offset and with buffers that split a
// listing, and they count the same lookups; what it does not take
// (a directory not read, a ref, a node not of refs/) it leaves alone.
func TestFastReplyMatchesProtocolServer(t *testing.T) {
	slow, fast := fastTestState(t), fastTestState(t)
	ps := fastTestServer(t, slow)
	outSlow, outFast := make([]byte, 1<<17), make([]byte, 1<<17)
	var count countingFS
	unique := uint64(10)
	compare := func(req []byte) []byte {
		t.Helper()
		unique++
		n, st := ps.HandleRequest([][]byte{req}, [][]byte{outSlow})
		if !st.Ok() {
			t.Fatalf("protocol server: %v", st)
		}
		m, ok := fast.fastReply(req, outFast, &count)
		if !ok {
			t.Fatalf("fast path declined %x", req[:inHeaderSize])
		}
		if !bytes.Equal(outSlow[:n], outFast[:m]) {
			t.Fatalf("request %x:\nprotocol server %x\nfast path       %x", req, outSlow[:n], outFast[:m])
		}
		return outFast[:m]
	}
	dirs := []uint64{refsID(rawRootNode)}
	// Both count the root's entry as the kernel's lookup of refs/.
	var eo fuse.EntryOut
	slow.rootEntry(&eo)
	fast.rootEntry(&eo)
	seen := map[uint64]bool{}
	listed := 0
	for len(dirs) > 0 {
		d := dirs[0]
		dirs = dirs[1:]
		if seen[d] {
			continue
		}
		seen[d] = true
		if i, _ := fast.nodes.node(d); fast.nodes.entry(fast.tree, i).isStub() {
			if _, ok := fast.fastReply(readReq(unique, d, 0, 4096, true), outFast, &count); ok {
				t.Errorf("fast path answered the listing of a directory not read")
			}
			continue
		}
		full := compare(readReq(unique, d, 0, 4096, true))
		ids, entries := plusDirs(t, full)
		dirs = append(dirs, ids...)
		listed++
		for _, size := range []uint32{0, 100, 151, 200, 400} {
			for off := range uint64(entries + 2) {
				compare(readReq(unique, d, off, size, true))
				compare(readReq(unique, d, off, size, false))
			}
		}
	}
	if listed < 8 {
		t.Fatalf("listed %d directories, want the whole tree", listed)
	}
	if a, b := nodesOf(slow), nodesOf(fast); a != b {
		t.Errorf("nodes differ:\nprotocol server %s\nfast path       %s", a, b)
	}
	if count.n[opReaddirplus].Load() == 0 || count.n[opReaddir].Load() == 0 {
		t.Errorf("counted %d READDIRPLUS, %d READDIR", count.n[opReaddirplus].Load(), count.n[opReaddir].Load())
	}

	// Not the fast path's: a ref, a node not of refs/, another opcode.
	fast.mu.Lock()
	heads := fast.tree.find("heads")
	ref := fast.nodes.lookup(heads.node, fast.tree.find("heads/main"), fast.tree.sums[0])
	fast.mu.Unlock()
	for name, req := range map[string][]byte{
		"ref":          readReq(1, refsID(ref), 0, 4096, true),
		"gone node":    readReq(1, refsID(9999), 0, 4096, true),
		"root":         readReq(1, fuse.FUSE_ROOT_ID, 0, 4096, true),
		"go-fuse node": readReq(1, 5, 0, 4096, false),
		"lookup": func() []byte {
			r := readReq(1, refsID(rawRootNode), 0, 4096, true)
			(*fuse.InHeader)(unsafe.Pointer(&r[0])).Opcode = fuseOpLookup
			return r
		}(),
		"too large": readReq(1, refsID(rawRootNode), 0, 1<<20, true),
	} {
		if _, ok := fast.fastReply(req, outFast, nil); ok {
			t.Errorf("%s: fast path answered", name)
		}
	}
}

// TestFastReplyShortRequests: a request shorter than its opcode needs,
// or whose length disagrees with its header, is left to the protocol
// server (which answers EIO), and never read past.
func TestFastReplyShortRequests(t *testing.T) {
	s := fastTestState(t)
	out := make([]byte, 1<<16)
	for _, plus := range []bool{true, false} {
		full := readReq(1, refsID(rawRootNode), 0, 4096, plus)
		if _, ok := s.fastReply(full, out, nil); !ok {
			t.Fatalf("plus %v: full request declined", plus)
		}
		for n := range len(full) {
			req := bytes.Clone(full[:n])
			if n >= inHeaderSize {
				(*fuse.InHeader)(unsafe.Pointer(&req[0])).Length = uint32(n)
			}
			if _, ok := s.fastReply(req, out, nil); ok {
				t.Errorf("plus %v: a request of %d bytes answered", plus, n)
			}
		}
		// The header says more than was read.
		if _, ok := s.fastReply(full[:len(full)-1], out, nil); ok {
			t.Errorf("plus %v: a request shorter than its header says answered", plus)
		}
		if _, ok := s.fastReply(full, out[:outHeaderSize-1], nil); ok {
			t.Errorf("plus %v: answered into a buffer too small for the header", plus)
		}
	}
}
