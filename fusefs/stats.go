package fusefs

import (
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Request kinds counted by countingFS.
const (
	opLookup = iota
	opForget
	opGetattr
	opStatx
	opReadlink
	opGetxattr
	opListxattr
	opOpen
	opRead
	opFlush
	opRelease
	opOpendir
	opReaddir
	opReaddirplus
	opReleasedir
	opStatfs
	numOps
)

var opNames = [numOps]string{"LOOKUP", "FORGET", "GETATTR", "STATX", "READLINK", "GETXATTR", "LISTXATTR",
	"OPEN", "READ", "FLUSH", "RELEASE", "OPENDIR", "READDIR", "READDIRPLUS", "RELEASEDIR", "STATFS"}

// RequestCounts is how many FUSE requests of each kind the mount served,
// by opcode name. Round trips to the daemon are what a mount's speed
// depends on, and unlike wall time they do not vary with the machine's
// load, so benchmarks and operators read these.
type RequestCounts map[string]uint64

// countingFS counts the requests that reach the file system. An atomic
// add per request is noise next to the context switches it costs.
type countingFS struct {
	fuse.RawFileSystem
	n [numOps]atomic.Uint64
}

func (c *countingFS) counts() RequestCounts {
	out := RequestCounts{}
	for i := range c.n {
		if v := c.n[i].Load(); v > 0 {
			out[opNames[i]] = v
		}
	}
	return out
}

func (c *countingFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	c.n[opLookup].Add(1)
	return c.RawFileSystem.Lookup(cancel, h, name, out)
}

func (c *countingFS) Forget(nodeid, nlookup uint64) {
	c.n[opForget].Add(1)
	c.RawFileSystem.Forget(nodeid, nlookup)
}

func (c *countingFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	c.n[opGetattr].Add(1)
	return c.RawFileSystem.GetAttr(cancel, in, out)
}

func (c *countingFS) Statx(cancel <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	c.n[opStatx].Add(1)
	return c.RawFileSystem.Statx(cancel, in, out)
}

func (c *countingFS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	c.n[opReadlink].Add(1)
	return c.RawFileSystem.Readlink(cancel, h)
}

func (c *countingFS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	c.n[opGetxattr].Add(1)
	return c.RawFileSystem.GetXAttr(cancel, h, attr, dest)
}

func (c *countingFS) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	c.n[opListxattr].Add(1)
	return c.RawFileSystem.ListXAttr(cancel, h, dest)
}

func (c *countingFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	c.n[opOpen].Add(1)
	return c.RawFileSystem.Open(cancel, in, out)
}

func (c *countingFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	c.n[opRead].Add(1)
	return c.RawFileSystem.Read(cancel, in, buf)
}

func (c *countingFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	c.n[opFlush].Add(1)
	return c.RawFileSystem.Flush(cancel, in)
}

func (c *countingFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	c.n[opRelease].Add(1)
	c.RawFileSystem.Release(cancel, in)
}

func (c *countingFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	c.n[opOpendir].Add(1)
	return c.RawFileSystem.OpenDir(cancel, in, out)
}

func (c *countingFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	c.n[opReaddir].Add(1)
	return c.RawFileSystem.ReadDir(cancel, in, out)
}

func (c *countingFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	c.n[opReaddirplus].Add(1)
	return c.RawFileSystem.ReadDirPlus(cancel, in, out)
}

func (c *countingFS) ReleaseDir(in *fuse.ReleaseIn) {
	c.n[opReleasedir].Add(1)
	c.RawFileSystem.ReleaseDir(in)
}

func (c *countingFS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	c.n[opStatfs].Add(1)
	return c.RawFileSystem.StatFs(cancel, h, out)
}
