package fusefs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// TestFindFloor measures what the FUSE round trips of a walk of a
// mirror's refs/ cost on this machine, whatever the server does: find
// -type l over the Flathub shape of refs/
// (refs/heads/app/org.example.AppNNNNNN/x86_64/stable, REPOFS_SCALE_REFS
// refs, default 100000) served from a table built before the mount, by
// a go-fuse raw file system ("gofuse") and by a loop of our own reading
// and answering /dev/fuse on one locked thread ("loop"), against find of
// the same tree on disk. Each line gives the wall time, the requests,
// the server's CPU time and context switches, per request.
// REPOFS_FLOOR_PROCS sets GOMAXPROCS for the go-fuse server (a list,
// comma-separated); REPOFS_FLOOR_ROUNDS the rounds (default 3).
//
//	REPOFS_BENCH=1 go test -run TestFindFloor -v ./fusefs/
func TestFindFloor(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure the floor of a walk of refs/")
	}
	requireFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("the loop mounts with mount(2): needs root")
	}
	n := 100000
	if v := os.Getenv("REPOFS_SCALE_REFS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	rounds := 3
	if v := os.Getenv("REPOFS_FLOOR_ROUNDS"); v != "" {
		rounds, _ = strconv.Atoi(v)
	}
	// A setting "a>b" makes the server at GOMAXPROCS a (which sizes
	// go-fuse's readers) and serves at b, as newServer does.
	procs := []string{strconv.Itoa(runtime.GOMAXPROCS(0))}
	if v := os.Getenv("REPOFS_FLOOR_PROCS"); v != "" {
		procs = strings.Split(v, ",")
	}
	tab := newFloorTable(n)
	disk := t.TempDir()
	for i := range n {
		f := filepath.Join(disk, "refs", "heads", "app", fmt.Sprintf("org.example.App%06d", i), "x86_64", "stable")
		os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.Symlink("../../../../commits/x", f); err != nil {
			t.Fatal(err)
		}
	}
	find := func(root string) (time.Duration, *syscall.Rusage) {
		cmd := exec.Command("find", filepath.Join(root, "refs"), "-type", "l", "-printf", ".")
		var out bytes.Buffer
		cmd.Stdout = &out
		start := time.Now()
		if err := cmd.Run(); err != nil || out.Len() != n {
			t.Fatalf("find %s: %d refs, %v", root, out.Len(), err)
		}
		return time.Since(start), cmd.ProcessState.SysUsage().(*syscall.Rusage)
	}
	line := func(name string, wall time.Duration, reqs uint64, self0, self1 syscall.Rusage, fu *syscall.Rusage) {
		cpu := func(r syscall.Rusage) time.Duration {
			return time.Duration(r.Utime.Nano() + r.Stime.Nano())
		}
		per := func(v float64) float64 { return v / float64(max(reqs, 1)) }
		srvCPU := cpu(self1) - cpu(self0)
		nv := self1.Nvcsw - self0.Nvcsw
		niv := self1.Nivcsw - self0.Nivcsw
		t.Logf("%-10s find %7.0fms  requests %7d  %5.1fµs/req wall  server CPU %5.1fµs/req  server csw %.2f+%.2f/req  find csw %.2f+%.2f/req",
			name, float64(wall)/1e6, reqs, per(float64(wall.Nanoseconds()))/1e3, per(float64(srvCPU.Nanoseconds()))/1e3,
			per(float64(nv)), per(float64(niv)), per(float64(fu.Nvcsw)), per(float64(fu.Nivcsw)))
	}
	rusage := func() syscall.Rusage {
		var r syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &r)
		return r
	}
	for range rounds {
		wall, fu := find(disk)
		t.Logf("%-10s find %7.0fms  find csw %d+%d", "disk", float64(wall)/1e6, fu.Nvcsw, fu.Nivcsw)
		for _, p := range procs {
			a, b, ok := strings.Cut(p, ">")
			if !ok {
				b = a
			}
			pa, _ := strconv.Atoi(a)
			pb, _ := strconv.Atoi(b)
			old := runtime.GOMAXPROCS(pa)
			mp := t.TempDir()
			g := &floorFS{RawFileSystem: fuse.NewDefaultRawFileSystem(), tab: tab}
			srv, err := fuse.NewServer(g, mp, &fuse.MountOptions{DirectMount: true, DirectMountStrict: true, Name: "floor"})
			if err != nil {
				t.Fatal(err)
			}
			runtime.GOMAXPROCS(pb)
			go srv.Serve()
			if err := srv.WaitMount(); err != nil {
				t.Fatal(err)
			}
			g.reqs.Store(0)
			r0 := rusage()
			wall, fu := find(mp)
			r1 := rusage()
			line("gofuse P"+p, wall, g.reqs.Load(), r0, r1, fu)
			if err := srv.Unmount(); err != nil {
				t.Fatalf("unmount %s: %v", mp, err)
			}
			runtime.GOMAXPROCS(old)
		}
		mp := t.TempDir()
		l, err := mountFloorLoop(tab, mp)
		if err != nil {
			t.Fatal(err)
		}
		// A loop that stopped early leaves a dead mount: detached, it
		// goes, and the temporary directory with it.
		t.Cleanup(func() { syscall.Unmount(mp, syscall.MNT_DETACH) })
		<-l.ready
		l.reqs.Store(0)
		r0 := rusage()
		wall, fu = find(mp)
		r1 := rusage()
		line("loop", wall, l.reqs.Load(), r0, r1, fu)
		if err := syscall.Unmount(mp, 0); err != nil {
			t.Fatalf("unmount %s: %v", mp, err)
		}
		<-l.done
		if l.err != nil {
			t.Fatalf("loop: %v", l.err)
		}
	}
}

// floorTable is the tree of a mirror's refs/ under a root, node ID i+1
// at index i, the root's ID 1.
type floorTable struct {
	nodes []floorNode
}

type floorNode struct {
	name  string
	dir   bool
	kids  []uint64
	inode uint64
}

func newFloorTable(n int) *floorTable {
	t := &floorTable{}
	add := func(parent uint64, name string, dir bool) uint64 {
		t.nodes = append(t.nodes, floorNode{name: name, dir: dir, inode: uint64(len(t.nodes) + 1)})
		id := uint64(len(t.nodes))
		if parent != 0 {
			t.nodes[parent-1].kids = append(t.nodes[parent-1].kids, id)
		}
		return id
	}
	root := add(0, "", true)
	refs := add(root, "refs", true)
	heads := add(refs, "heads", true)
	add(refs, "remotes", true)
	app := add(heads, "app", true)
	for i := range n {
		a := add(app, fmt.Sprintf("org.example.App%06d", i), true)
		x := add(a, "x86_64", true)
		add(x, "stable", false)
	}
	return t
}

func (t *floorTable) node(id uint64) *floorNode {
	if id == 0 || id > uint64(len(t.nodes)) {
		return nil
	}
	return &t.nodes[id-1]
}

func (t *floorTable) attr(id uint64, a *fuse.Attr) {
	n := t.node(id)
	a.Ino = n.inode
	if n.dir {
		a.Mode = syscall.S_IFDIR | 0o755
		a.Nlink = 2
	} else {
		a.Mode = syscall.S_IFLNK | 0o777
		a.Nlink = 1
		a.Size = 21
	}
}

func (t *floorTable) lookup(parent uint64, name string, out *fuse.EntryOut) bool {
	p := t.node(parent)
	if p == nil {
		return false
	}
	for _, k := range p.kids {
		if t.nodes[k-1].name == name {
			out.NodeId = k
			t.attr(k, &out.Attr)
			out.SetEntryTimeout(time.Hour)
			out.SetAttrTimeout(time.Hour)
			return true
		}
	}
	return false
}

// floorFS serves the table through go-fuse's request loop.
type floorFS struct {
	fuse.RawFileSystem
	tab  *floorTable
	reqs atomic.Uint64
}

func (f *floorFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	f.reqs.Add(1)
	if !f.tab.lookup(h.NodeId, name, out) {
		return fuse.ENOENT
	}
	return fuse.OK
}

func (f *floorFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	f.reqs.Add(1)
	if f.tab.node(in.NodeId) == nil {
		return fuse.ENOENT
	}
	f.tab.attr(in.NodeId, &out.Attr)
	out.SetTimeout(time.Hour)
	return fuse.OK
}

func (f *floorFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	f.reqs.Add(1)
	return fuse.ENOSYS
}

func (f *floorFS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	f.reqs.Add(1)
	return []byte("../../../../commits/x"), fuse.OK
}

func (f *floorFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return f.readDir(in, out, false)
}

func (f *floorFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return f.readDir(in, out, true)
}

func (f *floorFS) readDir(in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	f.reqs.Add(1)
	d := f.tab.node(in.NodeId)
	if d == nil {
		return fuse.ENOENT
	}
	for k := in.Offset; k < uint64(len(d.kids)); k++ {
		id := d.kids[k]
		n := &f.tab.nodes[id-1]
		e := fuse.DirEntry{Name: n.name, Mode: syscall.S_IFDIR, Ino: n.inode, Off: k + 1}
		if !n.dir {
			e.Mode = syscall.S_IFLNK
		}
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
		if n.dir {
			eo.NodeId = id
			f.tab.attr(id, &eo.Attr)
			eo.SetEntryTimeout(time.Hour)
			eo.SetAttrTimeout(time.Hour)
		}
	}
	return fuse.OK
}

func (f *floorFS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	return fuse.OK
}

// floorLoop answers /dev/fuse from the table on one locked thread: one
// read and one write per request, nothing else.
type floorLoop struct {
	tab   *floorTable
	fd    int
	reqs  atomic.Uint64
	ready chan struct{}
	done  chan struct{}
	err   error // why serve stopped before the unmount, read after done
}

const (
	floorOpLookup      = 1
	floorOpForget      = 2
	floorOpGetattr     = 3
	floorOpReadlink    = 5
	floorOpStatfs      = 17
	floorOpGetxattr    = 22
	floorOpInit        = 26
	floorOpOpendir     = 27
	floorOpReaddir     = 28
	floorOpReleasedir  = 29
	floorOpInterrupt   = 36
	floorOpDestroy     = 38
	floorOpBatchForget = 42
	floorOpReaddirplus = 44
)

func mountFloorLoop(tab *floorTable, mp string) (*floorLoop, error) {
	fd, err := syscall.Open("/dev/fuse", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0", fd)
	if err := syscall.Mount("floor", mp, "fuse.floor", syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("mount %s: %w", mp, err)
	}
	l := &floorLoop{tab: tab, fd: fd, ready: make(chan struct{}), done: make(chan struct{})}
	go l.serve()
	return l, nil
}

func structBytes[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

func (l *floorLoop) serve() {
	runtime.LockOSThread()
	defer close(l.done)
	defer syscall.Close(l.fd)
	buf := make([]byte, 1<<17+4096)
	out := make([]byte, 1<<17)
	for {
		n, err := syscall.Read(l.fd, buf)
		if err == syscall.EINTR || err == syscall.ENOENT {
			continue
		}
		if err == syscall.ENODEV { // unmounted
			return
		}
		if err != nil {
			l.err = fmt.Errorf("read /dev/fuse: %w", err)
			return
		}
		h := (*fuse.InHeader)(unsafe.Pointer(&buf[0]))
		body := buf[unsafe.Sizeof(fuse.InHeader{}):n]
		oh := (*fuse.OutHeader)(unsafe.Pointer(&out[0]))
		*oh = fuse.OutHeader{Unique: h.Unique}
		payload := out[unsafe.Sizeof(fuse.OutHeader{}):]
		size := 0
		l.reqs.Add(1)
		switch h.Opcode {
		case floorOpForget, floorOpBatchForget, floorOpInterrupt:
			continue
		case floorOpDestroy:
			return
		case floorOpInit:
			in := (*fuse.InitIn)(unsafe.Pointer(&buf[0]))
			o := fuse.InitOut{Major: 7, Minor: min(in.Minor, 31), MaxReadAhead: in.MaxReadAhead, MaxWrite: 1 << 17, TimeGran: 1,
				MaxBackground: 12, CongestionThreshold: 9, MaxPages: 32,
				Flags: uint32(in.Flags64() & (fuse.CAP_ASYNC_READ | fuse.CAP_READDIRPLUS | fuse.CAP_NO_OPENDIR_SUPPORT |
					fuse.CAP_PARALLEL_DIROPS | fuse.CAP_MAX_PAGES | fuse.CAP_CACHE_SYMLINKS))}
			size = copy(payload, structBytes(&o))
			select {
			case <-l.ready:
			default:
				close(l.ready)
			}
		case floorOpLookup:
			name := string(body[:bytes.IndexByte(body, 0)])
			var eo fuse.EntryOut
			if !l.tab.lookup(h.NodeId, name, &eo) {
				oh.Status = -int32(syscall.ENOENT)
			} else {
				size = copy(payload, structBytes(&eo))
			}
		case floorOpGetattr:
			var ao fuse.AttrOut
			if l.tab.node(h.NodeId) == nil {
				oh.Status = -int32(syscall.ENOENT)
			} else {
				l.tab.attr(h.NodeId, &ao.Attr)
				ao.SetTimeout(time.Hour)
				size = copy(payload, structBytes(&ao))
			}
		case floorOpReadlink:
			size = copy(payload, "../../../../commits/x")
		case floorOpStatfs:
			var so fuse.StatfsOut
			size = copy(payload, structBytes(&so))
		case floorOpOpendir, floorOpGetxattr:
			oh.Status = -int32(syscall.ENOSYS)
		case floorOpReleasedir:
		case floorOpReaddir, floorOpReaddirplus:
			in := (*fuse.ReadIn)(unsafe.Pointer(&buf[0]))
			size = l.readDir(in, payload[:min(int(in.Size), len(payload))], h.Opcode == floorOpReaddirplus)
		default:
			oh.Status = -int32(syscall.ENOSYS)
		}
		oh.Length = uint32(int(unsafe.Sizeof(fuse.OutHeader{})) + size)
		// ENOENT: the request was interrupted meanwhile.
		if _, err := syscall.Write(l.fd, out[:oh.Length]); err != nil && err != syscall.ENOENT {
			l.err = fmt.Errorf("answer opcode %d: %w", h.Opcode, err)
			return
		}
	}
}

// readDir writes the entries of in's directory from its offset into p,
// as fuse_dirent or fuse_direntplus records, and returns their size.
func (l *floorLoop) readDir(in *fuse.ReadIn, p []byte, plus bool) int {
	d := l.tab.node(in.NodeId)
	if d == nil {
		return 0
	}
	size := 0
	for k := in.Offset; k < uint64(len(d.kids)); k++ {
		id := d.kids[k]
		n := &l.tab.nodes[id-1]
		var eo fuse.EntryOut
		if plus && n.dir {
			eo.NodeId = id
			l.tab.attr(id, &eo.Attr)
			eo.SetEntryTimeout(time.Hour)
			eo.SetAttrTimeout(time.Hour)
		}
		head := 0
		if plus {
			head = int(unsafe.Sizeof(eo))
		}
		rec := head + 24 + (len(n.name)+7)&^7
		if size+rec > len(p) {
			break
		}
		b := p[size : size+rec]
		clear(b)
		if plus {
			copy(b, structBytes(&eo))
		}
		de := b[head:]
		typ := uint32(syscall.DT_DIR)
		if !n.dir {
			typ = syscall.DT_LNK
		}
		*(*uint64)(unsafe.Pointer(&de[0])) = n.inode
		*(*uint64)(unsafe.Pointer(&de[8])) = k + 1
		*(*uint32)(unsafe.Pointer(&de[16])) = uint32(len(n.name))
		*(*uint32)(unsafe.Pointer(&de[20])) = typ
		copy(de[24:], n.name)
		size += rec
	}
	return size
}
