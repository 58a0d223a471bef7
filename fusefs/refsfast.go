package fusefs

import (
	"syscall"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/repo"
)

// The fast path: serveLoop's reader answers the requests a walk of
// refs/ is made of, READDIRPLUS and READDIR of a directory of refs/ read
// already, straight from the tree into the reply, without go-fuse's
// protocol server (which allocates a request and a channel, and decodes
// generically) and without the paths rawRefs builds (refsState.list). A
// walk of a mirror's refs/ is two such requests per directory, hundreds
// of thousands; each reply is what list would give, byte for byte
// (TestFastReplyMatchesProtocolServer). Any other request, or one the
// fast path cannot answer as list would (a directory not read yet, whose
// listing waits for the disk), goes the slow way, unchanged.

const (
	inHeaderSize  = int(unsafe.Sizeof(fuse.InHeader{}))
	outHeaderSize = int(unsafe.Sizeof(fuse.OutHeader{}))
	readInSize    = int(unsafe.Sizeof(fuse.ReadIn{})) // the header included
	entryOutSize  = int(unsafe.Sizeof(fuse.EntryOut{}))
	// direntSize is struct fuse_dirent without its name: ino, off,
	// namelen, type.
	direntSize = 24
)

// fastReply answers the request req into out if it is one the fast path
// takes, and returns the reply's length and true; false if the request
// must go the slow way. count, if not nil, counts it as countingFS
// would.
func (s *refsState) fastReply(req, out []byte, count *countingFS) (int, bool) {
	if len(req) < inHeaderSize || len(out) < outHeaderSize {
		return 0, false
	}
	h := (*fuse.InHeader)(unsafe.Pointer(&req[0]))
	plus := false
	switch h.Opcode {
	case fuseOpReaddirplus:
		plus = true
	case fuseOpReaddir:
	default:
		return 0, false
	}
	if !isRefsID(h.NodeId) || len(req) < readInSize || int(h.Length) != len(req) {
		return 0, false
	}
	in := (*fuse.ReadIn)(unsafe.Pointer(&req[0]))
	if uint64(in.Size) > uint64(len(out)-outHeaderSize) {
		return 0, false
	}
	n, ok := s.listFast(in, out[outHeaderSize:outHeaderSize+int(in.Size)], plus)
	if !ok {
		return 0, false
	}
	if count != nil {
		op := opReaddir
		if plus {
			op = opReaddirplus
		}
		count.n[op].Add(1)
	}
	oh := (*fuse.OutHeader)(unsafe.Pointer(&out[0]))
	*oh = fuse.OutHeader{Length: uint32(outHeaderSize + n), Unique: h.Unique}
	return outHeaderSize + n, true
}

// listFast writes into p the entries of the directory in.NodeId from
// in.Offset on, as list does, and returns their size; false if the node
// is not a directory of refs/ read already (list answers the rest).
func (s *refsState) listFast(in *fuse.ReadIn, p []byte, plus bool) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	di, dn := s.nodes.node(in.NodeId)
	if dn == nil || dn.isRef() {
		return 0, false
	}
	e := s.nodes.entry(s.tree, di)
	if e == nil || !e.isDir() || e.isStub() {
		return 0, false
	}
	kids := e.kids()
	if in.Offset == 0 {
		for i := range kids {
			if kids[i].isStub() {
				s.listed(s.nodes.path(di), e)
				break
			}
		}
	}
	dirH, refH := s.nodes.inoPrefixes(di)
	var dirOut fuse.EntryOut
	if plus {
		s.dirEntry(&dirOut, 0)
	}
	head := 0
	if plus {
		head = entryOutSize
	}
	size := 0
	for k := in.Offset; k < uint64(len(kids)); k++ {
		kid := &kids[k]
		name := kid.name()
		pad := (8 - len(name)&7) & 7
		rec := head + direntSize + len(name) + pad
		if size+rec > len(p) {
			break
		}
		b := p[size : size+rec]
		var ino uint64
		typ := uint32(syscall.S_IFDIR >> 12)
		if kid.isDir() {
			ino = inoName(dirH, name, nil)
		} else {
			typ = syscall.S_IFLNK >> 12
			ino = inoName(refH, name, &s.tree.sums[kid.sum-1])
		}
		if plus {
			eo := (*fuse.EntryOut)(unsafe.Pointer(&b[0]))
			if kid.isDir() {
				*eo = dirOut
				eo.NodeId = refsID(s.nodes.lookup(di, kid, repo.Checksum{}))
				eo.Attr.Ino = ino
			} else {
				*eo = fuse.EntryOut{}
			}
		}
		d := b[head:]
		*(*uint64)(unsafe.Pointer(&d[0])) = ino
		*(*uint64)(unsafe.Pointer(&d[8])) = k + 1
		*(*uint32)(unsafe.Pointer(&d[16])) = uint32(len(name))
		*(*uint32)(unsafe.Pointer(&d[20])) = typ
		copy(d[direntSize:], name)
		clear(d[direntSize+len(name):])
		size += rec
	}
	return size, true
}

// FNV-1a, as ino and entryIno compute it.
const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211

func fnvAdd(v uint64, s string) uint64 {
	for i := range len(s) {
		v = (v ^ uint64(s[i])) * fnvPrime
	}
	return v
}

// inoPrefixes returns the state of entryIno("refdir", dir, …) and of
// entryIno("ref", dir, …) after dir, the path of the directory node i,
// and its slash: what the entries in it have in common.
func (t *refNodes) inoPrefixes(i uint32) (dirH, refH uint64) {
	var stack [16]uint32
	up := stack[:0]
	for ; i != rawRootNode; i = t.n[i].parent {
		up = append(up, i)
	}
	dirH = fnvAdd(fnvOffset, "refdir") * fnvPrime
	refH = fnvAdd(fnvOffset, "ref") * fnvPrime
	for k := len(up) - 1; k >= 0; k-- {
		name := t.n[up[k]].name()
		dirH, refH = fnvAdd(dirH, name), fnvAdd(refH, name)
		if k > 0 {
			dirH, refH = fnvAdd(dirH, "/"), fnvAdd(refH, "/")
		}
	}
	if len(up) > 0 {
		dirH, refH = (dirH^'/')*fnvPrime, (refH^'/')*fnvPrime
	}
	return dirH, refH
}

// inoName finishes entryIno from the state v of its directory (see
// inoPrefixes) with the entry's name and, for a ref, its value.
func inoName(v uint64, name string, sum *repo.Checksum) uint64 {
	v = fnvAdd(v, name) * fnvPrime
	if sum != nil {
		const digits = "0123456789abcdef"
		for _, b := range sum {
			v = (v ^ uint64(digits[b>>4])) * fnvPrime
			v = (v ^ uint64(digits[b&15])) * fnvPrime
		}
		v *= fnvPrime
	}
	if v <= commitsIno {
		v += commitsIno + 1
	}
	return v
}
