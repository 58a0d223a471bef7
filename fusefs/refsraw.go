package fusefs

import (
	"context"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/repo"
)

// rawRefs serves refs/ at the level of FUSE requests, with node IDs of
// its own (refNodes), in front of go-fuse's node tree, which serves the
// rest: the kernel's walk of refs/ makes no go-fuse Inode, and each entry
// of a listing costs a few field writes. The root's entry "refs" and the
// root's listing give the kernel refs/'s node; a request on a node of
// refs/ never reaches go-fuse, which knows nothing of those IDs.
type rawRefs struct {
	fuse.RawFileSystem
	s *refsState
}

// refsTimeout is how long the kernel may keep entries and attributes of
// refs/: as long as those of commits/, since every change is invalidated
// explicitly (refsState.invalidate); a find over a hundred thousand refs
// is then answered from the kernel's cache the second time.
const refsTimeout = immutable

func (r *rawRefs) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if h.NodeId == fuse.FUSE_ROOT_ID && name == "refs" {
		r.s.rootEntry(out)
		return fuse.OK
	}
	if !isRefsID(h.NodeId) {
		return r.RawFileSystem.Lookup(cancel, h, name, out)
	}
	return r.s.lookup(&fuse.Context{Caller: h.Caller, Cancel: cancel}, h.NodeId, name, out)
}

func (r *rawRefs) Forget(nodeid, nlookup uint64) {
	if !isRefsID(nodeid) {
		r.RawFileSystem.Forget(nodeid, nlookup)
		return
	}
	r.s.forget(nodeid, nlookup)
}

func (r *rawRefs) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	if !isRefsID(in.NodeId) {
		return r.RawFileSystem.GetAttr(cancel, in, out)
	}
	return r.s.getattr(in.NodeId, out)
}

func (r *rawRefs) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	if !isRefsID(h.NodeId) {
		return r.RawFileSystem.Readlink(cancel, h)
	}
	return r.s.readlink(h.NodeId)
}

func (r *rawRefs) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return r.readDir(cancel, in, out, false)
}

func (r *rawRefs) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return r.readDir(cancel, in, out, true)
}

func (r *rawRefs) readDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	switch {
	case in.NodeId == fuse.FUSE_ROOT_ID:
		return r.listRoot(cancel, in, out, plus)
	case isRefsID(in.NodeId):
		return r.s.list(&fuse.Context{Caller: in.Caller, Cancel: cancel}, in, out, plus)
	case plus:
		return r.RawFileSystem.ReadDirPlus(cancel, in, out)
	default:
		return r.RawFileSystem.ReadDir(cancel, in, out)
	}
}

// listRoot lists the root: commits/, go-fuse's, and refs/, ours.
func (r *rawRefs) listRoot(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	ents := [...]fuse.DirEntry{
		{Name: "commits", Mode: syscall.S_IFDIR, Ino: commitsIno, Off: 1},
		{Name: "refs", Mode: syscall.S_IFDIR, Ino: refsIno, Off: 2},
	}
	for _, e := range ents[min(in.Offset, uint64(len(ents))):] {
		if !plus {
			if !out.AddDirEntry(e) {
				break
			}
			continue
		}
		eo := out.AddDirLookupEntry(e)
		if eo == nil {
			break
		}
		if e.Name == "refs" {
			r.s.rootEntry(eo)
		} else if st := r.RawFileSystem.Lookup(cancel, &in.InHeader, e.Name, eo); !st.Ok() {
			*eo = fuse.EntryOut{} // the name alone; a lookup will tell
		}
	}
	return fuse.OK
}

func (r *rawRefs) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if isRefsID(in.NodeId) {
		return fuse.ENOSYS // as handlelessDirs: no handles, cached listings
	}
	return r.RawFileSystem.OpenDir(cancel, in, out)
}

func (r *rawRefs) ReleaseDir(in *fuse.ReleaseIn) {
	if !isRefsID(in.NodeId) {
		r.RawFileSystem.ReleaseDir(in)
	}
}

func (r *rawRefs) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	if isRefsID(h.NodeId) {
		return 0, fuse.ENOATTR
	}
	return r.RawFileSystem.GetXAttr(cancel, h, attr, dest)
}

func (r *rawRefs) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	if isRefsID(h.NodeId) {
		return 0, fuse.OK
	}
	return r.RawFileSystem.ListXAttr(cancel, h, dest)
}

func (r *rawRefs) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	if isRefsID(in.NodeId) {
		if in.Mask&2 != 0 { // W_OK
			return fuse.Status(syscall.EROFS)
		}
		return fuse.OK
	}
	return r.RawFileSystem.Access(cancel, in)
}

func (r *rawRefs) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	if isRefsID(h.NodeId) {
		return fuse.Status(r.s.fs.statfs(out))
	}
	return r.RawFileSystem.StatFs(cancel, h, out)
}

func (r *rawRefs) Statx(cancel <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	if isRefsID(in.NodeId) {
		return fuse.ENOSYS // as go-fuse answers for every node: GETATTR then
	}
	return r.RawFileSystem.Statx(cancel, in, out)
}

// rootEntry fills the root's entry of refs/ and counts the lookup.
func (s *refsState) rootEntry(out *fuse.EntryOut) {
	s.mu.Lock()
	s.nodes.lookup(rawRootNode, &s.tree.root, repo.Checksum{})
	s.mu.Unlock()
	out.NodeId = refsID(rawRootNode)
	s.dirEntry(out, refsIno)
}

// dirEntry fills out for a directory of refs/ whose inode number is ino.
func (s *refsState) dirEntry(out *fuse.EntryOut, ino uint64) {
	s.fs.dirAttr(&out.Attr, 2)
	out.Attr.Ino = ino
	out.SetEntryTimeout(refsTimeout)
	out.SetAttrTimeout(refsTimeout)
}

// dirPath returns the path of the directory node id, if it is one.
func (s *refsState) dirPath(id uint64) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, n := s.nodes.node(id)
	if n == nil || n.isRef() {
		return "", false
	}
	return s.nodes.path(i), true
}

func (s *refsState) lookup(ctx context.Context, parent uint64, name string, out *fuse.EntryOut) fuse.Status {
	dir, ok := s.dirPath(parent)
	if !ok || name == "." || name == ".." {
		return fuse.ENOENT
	}
	s.ensureLoaded(ctx, dir)
	p := join(dir, name)
	s.mu.Lock()
	pi, pn := s.nodes.node(parent)
	e := s.tree.find(p)
	if pn == nil || e == nil {
		s.mu.Unlock()
		return fuse.ENOENT
	}
	var c repo.Checksum
	isDir := e.isDir()
	if !isDir {
		c = s.tree.sums[e.sum-1]
	}
	i := s.nodes.lookup(pi, e, c)
	s.mu.Unlock()
	out.NodeId = refsID(i)
	if isDir {
		s.dirEntry(out, ino("refdir", p))
		return fuse.OK
	}
	s.refAttr(&out.Attr, p, c)
	out.SetEntryTimeout(refsTimeout)
	out.SetAttrTimeout(refsTimeout)
	return fuse.OK
}

// refAttr fills the attributes of the ref at p, of value c: its inode
// number is its value's too, as its node is.
func (s *refsState) refAttr(a *fuse.Attr, p string, c repo.Checksum) {
	a.Mode = syscall.S_IFLNK | 0o777
	a.Nlink = 1
	a.Size = uint64(len("../")*(strings.Count(p, "/")+1) + len("commits/") + 2*len(c))
	a.Ino = ino("ref", p, c.String())
	t := s.fs.mounted
	if ci, errno := s.fs.commit(c); errno == 0 {
		t = ci.commit.Timestamp
	}
	setTime(a, t)
}

func (s *refsState) forget(id, count uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, n := s.nodes.node(id)
	if n == nil {
		s.fs.log.Error("fusefs: forget of an unknown node of refs/", "node", id)
		return
	}
	s.nodes.forget(i, count, func(i uint32) {
		if e := s.tree.find(s.nodes.path(i)); e != nil && e.node == i {
			e.node = 0
		}
	})
}

func (s *refsState) getattr(id uint64, out *fuse.AttrOut) fuse.Status {
	s.mu.RLock()
	i, n := s.nodes.node(id)
	if n == nil {
		s.mu.RUnlock()
		return fuse.ENOENT
	}
	p := s.nodes.path(i)
	isRef := n.isRef()
	var c repo.Checksum
	if isRef {
		c = s.nodes.sum(i)
	}
	gone := !isRef && !s.tree.isDir(p)
	s.mu.RUnlock()
	out.SetTimeout(refsTimeout)
	if isRef {
		s.refAttr(&out.Attr, p, c)
		return fuse.OK
	}
	s.fs.dirAttr(&out.Attr, 2)
	out.Attr.Ino = ino("refdir", p)
	if i == rawRootNode {
		out.Attr.Ino = refsIno
	}
	if gone {
		return fuse.ENOENT
	}
	return fuse.OK
}

func (s *refsState) readlink(id uint64) ([]byte, fuse.Status) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, n := s.nodes.node(id)
	if n == nil || !n.isRef() {
		return nil, fuse.EINVAL
	}
	c := s.nodes.sum(i)
	return []byte(strings.Repeat("../", s.nodes.depth(i)) + "commits/" + c.String()), fuse.OK
}

// list answers READDIR(PLUS) of a directory of refs/ from the tree. An
// offset is an index into the sorted entries: a listing that takes
// several requests while the directory changes may miss or repeat an
// entry next to a change, as readdir(3) allows. READDIRPLUS gives the
// directories in it, which a walk enters, and not the refs: find -type l
// and ls need their names and types alone, and a ref the kernel never
// looked up costs no node.
func (s *refsState) list(ctx context.Context, in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	dir, ok := s.dirPath(in.NodeId)
	if !ok {
		return fuse.ENOTDIR
	}
	s.ensureLoaded(ctx, dir)
	s.mu.Lock()
	defer s.mu.Unlock()
	di, dn := s.nodes.node(in.NodeId)
	e := s.tree.find(dir)
	if dn == nil || e == nil || !e.isDir() {
		return fuse.ENOENT
	}
	if in.Offset == 0 {
		s.listed(dir, e)
	}
	kids := e.kids()
	for k := in.Offset; k < uint64(len(kids)); k++ {
		kid := &kids[k]
		name := kid.name()
		de := fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Off: k + 1}
		if kid.isDir() {
			de.Ino = entryIno("refdir", dir, name, nil)
		} else {
			de.Mode = syscall.S_IFLNK
			de.Ino = entryIno("ref", dir, name, &s.tree.sums[kid.sum-1])
		}
		if !plus {
			if !out.AddDirEntry(de) {
				break
			}
			continue
		}
		eo := out.AddDirLookupEntry(de)
		if eo == nil {
			break
		}
		if kid.isDir() {
			eo.NodeId = refsID(s.nodes.lookup(di, kid, repo.Checksum{}))
			s.dirEntry(eo, de.Ino)
		}
	}
	return fuse.OK
}

// entryIno is ino(kind, join(dir, name)) of a directory (sum nil), or
// ino(kind, join(dir, name), sum.String()) of a ref, without making
// those strings: a listing of a mirror's refs/ numbers a hundred
// thousand entries.
func entryIno(kind, dir, name string, sum *repo.Checksum) uint64 {
	return inoName(inoPrefix(kind, dir), name, sum)
}

// inoPrefix is the state of entryIno(kind, dir, …) after dir and its
// slash: what the entries in it have in common.
func inoPrefix(kind, dir string) uint64 {
	v := fnvAdd(fnvOffset, kind) * fnvPrime
	if dir != "" {
		v = (fnvAdd(v, dir) ^ '/') * fnvPrime
	}
	return v
}

// answersAtOnce tells whether the request h can be answered without
// waiting (serveLoop answers those in its reader): a FORGET, an
// INTERRUPT, or a request on a node of refs/ that reads nothing from
// the disk, which a lookup in or a listing of a directory not read yet
// (a stub) would.
func (s *refsState) answersAtOnce(h *fuse.InHeader) bool {
	switch {
	case h.Opcode == fuseOpForget || h.Opcode == fuseOpBatchForget || h.Opcode == fuseOpInterrupt:
		return true
	case !isRefsID(h.NodeId):
		return false
	case h.Opcode != fuseOpLookup && h.Opcode != fuseOpReaddir && h.Opcode != fuseOpReaddirplus:
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, n := s.nodes.node(h.NodeId)
	if n == nil || n.isRef() {
		return true
	}
	e := s.nodes.entry(s.tree, i)
	return e == nil || !e.isStub()
}
