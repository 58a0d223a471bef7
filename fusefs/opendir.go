package fusefs

import (
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// handlelessDirs spares the kernel a round trip for every opendir and
// closedir: OPENDIR answers ENOSYS, which with FUSE_NO_OPENDIR_SUPPORT the
// kernel takes as success, and it never sends OPENDIR or RELEASEDIR again.
// Without an open the kernel caches every listing (FOPEN_CACHE_DIR |
// FOPEN_KEEP_CACHE is its default then), which suits the immutable
// commits; commits/ is invalidated explicitly when it changes. refs/ is
// served apart, handleless too (rawRefs).
//
// go-fuse's fs bridge serves READDIR(PLUS) only through a handle it made,
// so handleless requests read through one this adapter opens for the
// directory and keeps until the listing's end, when the kernel has it
// cached: a listing that takes several requests is built once.
type handlelessDirs struct {
	fuse.RawFileSystem

	mu   sync.Mutex
	open map[uint64]*listing // by directory node, while being listed
}

// listing is a handle kept between the requests of one listing.
type listing struct {
	node, fh uint64
	users    int  // requests reading through it now
	done     bool // out of the map; released when users drops to 0
}

// maxListings bounds the handles kept for listings that a reader abandoned
// half way; beyond it idle ones are released, and a later request for
// such a directory opens anew. A variable for tests.
var maxListings = 64

func (h *handlelessDirs) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	return fuse.ENOSYS
}

func (h *handlelessDirs) ReleaseDir(in *fuse.ReleaseIn) {
	if in.Fh != 0 {
		h.RawFileSystem.ReleaseDir(in)
	}
}

// Forget releases the listing kept for a node the kernel forgets. go-fuse
// drops the node with its last lookup, assuming (as the protocol promises
// for handles the kernel opened) that no handle is left on it; one of ours
// could then never be released. No request reads through it: the kernel
// holds a directory it is reading, so never forgets it meanwhile.
func (h *handlelessDirs) Forget(nodeid, nlookup uint64) {
	h.mu.Lock()
	if l := h.open[nodeid]; l != nil {
		h.endLocked(l)
	}
	h.mu.Unlock()
	h.RawFileSystem.Forget(nodeid, nlookup)
}

func (h *handlelessDirs) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return h.withHandle(cancel, in, out, h.RawFileSystem.ReadDir)
}

func (h *handlelessDirs) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return h.withHandle(cancel, in, out, h.RawFileSystem.ReadDirPlus)
}

type readdirFunc func(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status

func (h *handlelessDirs) withHandle(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList, read readdirFunc) fuse.Status {
	if in.Fh != 0 {
		return read(cancel, in, out)
	}
	l, st := h.acquire(cancel, in)
	if !st.Ok() {
		return st
	}
	withFh := *in
	withFh.Fh = l.fh
	// The bridge seeks the handle's stream to the request's offset, so a
	// restarted or concurrent listing reads right through a shared handle.
	st = read(cancel, &withFh, out)
	h.release(l, !st.Ok() || out.Offset == in.Offset) // an error, or the end
	return st
}

// acquire returns the directory's listing handle, opening one if needed.
// A listing from offset 0 always gets a new one: a handle left by an
// abandoned listing holds the entries of its time, and commits/ changes.
func (h *handlelessDirs) acquire(cancel <-chan struct{}, in *fuse.ReadIn) (*listing, fuse.Status) {
	h.mu.Lock()
	if l := h.open[in.NodeId]; l != nil {
		if in.Offset != 0 {
			l.users++
			h.mu.Unlock()
			return l, fuse.OK
		}
		h.endLocked(l)
	}
	h.mu.Unlock()
	var oo fuse.OpenOut
	if st := h.RawFileSystem.OpenDir(cancel, &fuse.OpenIn{InHeader: in.InHeader, Flags: in.Flags}, &oo); !st.Ok() {
		return nil, st
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := h.open[in.NodeId]; l != nil {
		h.endLocked(l) // a concurrent listing's; ours is as new
	}
	if h.open == nil {
		h.open = map[uint64]*listing{}
	}
	for _, old := range h.open {
		if len(h.open) < maxListings {
			break
		}
		if old.users == 0 {
			h.endLocked(old)
		}
	}
	l := &listing{node: in.NodeId, fh: oo.Fh, users: 1}
	h.open[in.NodeId] = l
	return l, fuse.OK
}

// release ends a request's use of l; end ends l itself.
func (h *handlelessDirs) release(l *listing, end bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l.users--
	if end && !l.done {
		h.endLocked(l) // releases the handle if we were its last user
		return
	}
	if l.done && l.users == 0 {
		h.RawFileSystem.ReleaseDir(&fuse.ReleaseIn{InHeader: fuse.InHeader{NodeId: l.node}, Fh: l.fh})
	}
}

// endLocked takes l out of the map and releases its handle as soon as no
// request reads through it.
func (h *handlelessDirs) endLocked(l *listing) {
	if l.done {
		return
	}
	if h.open[l.node] == l {
		delete(h.open, l.node)
	}
	l.done = true
	if l.users == 0 {
		h.RawFileSystem.ReleaseDir(&fuse.ReleaseIn{InHeader: fuse.InHeader{NodeId: l.node}, Fh: l.fh})
	}
}
