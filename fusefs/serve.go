package fusefs

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// serveLoop reads /dev/fuse in place of go-fuse's request loop, so that
// a walk of refs/ is answered by one thread. go-fuse keeps two or more
// readers blocked on the device, and the kernel hands each request to
// the one that waited longest: consecutive requests of a walk land on
// different threads, and each costs a wake-up of a thread, the Go
// scheduler's hand-over and a cold cache besides the round trip itself.
// Here exactly one goroutine reads at any time. A request it can answer
// at once (on a node of refs/ that needs no read of the disk, FORGET,
// INTERRUPT) it answers and reads on; any other it hands to itself as a
// worker, after starting the next reader, so that a slow request (a
// cold READ, a directory of refs/ read from disk) holds up nothing else.
// The most frequent requests of a walk it answers itself, from the tree
// (refsState.fastReply); after answering, it reads on for a moment
// before it sleeps (readerSpin), so that the walk's next request finds
// it awake.
//
// go-fuse's fuse.Server still mounts, negotiates INIT (as for any other
// go-fuse mount) and sends the notifications; its fuse.ProtocolServer
// decodes the requests and calls the same RawFileSystem as its loop
// would. Nothing of go-fuse's loop runs: the server is never Served, so
// the mount is unmounted and waited for here (Mount.Unmount, Wait).
type serveLoop struct {
	fd    int
	srv   *fuse.Server // holds the fd open while the loop runs
	ps    *fuse.ProtocolServer
	refs  *refsState
	count *countingFS // nil if the file system counts nothing
	log   *slog.Logger
	bufs  sync.Pool // *[]byte of bufSize
	// bufSize fits the largest request (a WRITE of max_write, which the
	// kernel requires a read to have room for) and the largest reply.
	bufSize int
	workers sync.WaitGroup
	done    chan struct{}
	// handoffs counts the requests handed to a worker, for tests.
	handoffs atomic.Uint64
}

// FUSE opcodes the loop and rawRefs look at.
const (
	fuseOpLookup      = 1
	fuseOpForget      = 2
	fuseOpReaddir     = 28
	fuseOpInit        = 26
	fuseOpInterrupt   = 36
	fuseOpBatchForget = 42
	fuseOpReaddirplus = 44
)

// newServeLoop returns a loop serving fs (the raw file system srv was
// made with, with its options o) on the device fd, which srv opened and
// negotiated INIT on; refs tells which requests the reader answers
// itself (answersAtOnce), and answers the most frequent of them
// (fastReply).
func newServeLoop(srv *fuse.Server, fd int, fs fuse.RawFileSystem, o *fuse.MountOptions, refs *refsState, log *slog.Logger) (*serveLoop, error) {
	l := &serveLoop{fd: fd, srv: srv, ps: fuse.NewProtocolServer(fs, o), refs: refs, log: log,
		bufSize: o.MaxWrite + 1<<16, done: make(chan struct{})}
	l.count, _ = fs.(*countingFS)
	l.bufs.New = func() any { b := make([]byte, l.bufSize); return &b }
	// The protocol server decodes requests by the version and flags that
	// INIT settled: it is told the kernel's INIT that srv answered, and
	// answers it the same way (same options), to nobody.
	in := *srv.KernelSettings() // its header included
	in.InHeader = fuse.InHeader{Length: uint32(unsafe.Sizeof(in)), Opcode: fuseOpInit}
	req := unsafe.Slice((*byte)(unsafe.Pointer(&in)), unsafe.Sizeof(in))
	out := make([]byte, 4096)
	if _, st := l.ps.HandleRequest([][]byte{req}, [][]byte{out}); !st.Ok() {
		return nil, fmt.Errorf("replay INIT: %v", st)
	}
	if oh := (*fuse.OutHeader)(unsafe.Pointer(&out[0])); oh.Status != 0 {
		return nil, fmt.Errorf("replay INIT: %v", syscall.Errno(-oh.Status))
	}
	return l, nil
}

// start starts the reader.
func (l *serveLoop) start() {
	// The reader reads on for a while after a request (readerSpin), then
	// sleeps in poll(2). Should the device stay blocking, it sleeps in
	// read(2) at once, as it did before.
	syscall.SetNonblock(l.fd, true)
	l.workers.Add(1)
	go l.read(l.bufs.Get().(*[]byte))
	go func() {
		l.workers.Wait()
		close(l.done)
	}()
}

// read reads requests into *in and answers them until one must be
// handed off, or the mount is gone.
func (l *serveLoop) read(in *[]byte) {
	defer l.workers.Done()
	out := l.bufs.Get().(*[]byte)
	defer l.bufs.Put(out)
	var last time.Time
	for {
		n, err := syscall.Read(l.fd, *in)
		switch {
		case err == syscall.EAGAIN:
			if time.Since(last) > readerSpin {
				l.wait()
				last = time.Now()
			} else {
				// Whatever else would run on this core goes first:
				// the walk's process, or the mount's other threads.
				syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
			}
			continue
		case err == syscall.EINTR:
			continue
		case err == syscall.ENOENT: // interrupted before it was read
			continue
		case err == syscall.ENODEV: // unmounted
			l.bufs.Put(in)
			return
		case err != nil:
			l.log.Error("fusefs: read /dev/fuse; the mount stops serving", "err", err)
			l.bufs.Put(in)
			return
		case n < int(unsafe.Sizeof(fuse.InHeader{})):
			l.log.Error("fusefs: short request from /dev/fuse", "bytes", n)
			continue
		}
		if m, ok := l.refs.fastReply((*in)[:n], *out, l.count); ok {
			l.reply((*in)[:n], (*out)[:m])
			last = time.Now()
			continue
		}
		h := (*fuse.InHeader)(unsafe.Pointer(&(*in)[0]))
		if l.refs.answersAtOnce(h) {
			l.answer((*in)[:n], *out)
			last = time.Now()
			continue
		}
		// The next reader first, then this request, as a worker.
		l.handoffs.Add(1)
		l.workers.Add(1)
		go l.read(l.bufs.Get().(*[]byte))
		l.answer((*in)[:n], *out)
		l.bufs.Put(in)
		return
	}
}

// readerSpin is how long the reader keeps reading the device after a
// request it answered itself, yielding the core in between, before it
// sleeps until the next: a walk's next request comes within a round
// trip, and finding it there spares the reader a sleep and a wake-up on
// each request, which cost more than answering it. An idle mount
// sleeps.
const readerSpin = 100 * time.Microsecond

// wait waits for the device to have a request, or to be gone.
func (l *serveLoop) wait() {
	fds := []unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			return
		}
	}
}

// answer handles the request req and writes its reply, using out.
func (l *serveLoop) answer(req, out []byte) {
	n, st := l.ps.HandleRequest([][]byte{req}, [][]byte{out})
	if !st.Ok() {
		// Undecodable: the kernel still waits for an answer.
		h := (*fuse.InHeader)(unsafe.Pointer(&req[0]))
		oh := (*fuse.OutHeader)(unsafe.Pointer(&out[0]))
		*oh = fuse.OutHeader{Length: uint32(unsafe.Sizeof(fuse.OutHeader{})), Status: -int32(syscall.EIO), Unique: h.Unique}
		n = int(oh.Length)
	}
	if n == 0 { // no reply: FORGET, or an INTERRUPT that found its request
		return
	}
	l.reply(req, out[:n])
}

// reply writes the reply out to the request req.
func (l *serveLoop) reply(req, out []byte) {
	for {
		_, err := syscall.Write(l.fd, out)
		switch {
		case err == syscall.EINTR:
			continue
		case err == nil, err == syscall.ENOENT, err == syscall.ENODEV:
			// ENOENT: the request was interrupted meanwhile;
			// ENODEV: the mount is gone.
		default:
			h := (*fuse.InHeader)(unsafe.Pointer(&req[0]))
			l.log.Error("fusefs: answer a FUSE request", "opcode", h.Opcode, "err", err)
		}
		return
	}
}

// fuseFDs returns the descriptors of this process open on /dev/fuse.
func fuseFDs() map[int]bool {
	fds := map[int]bool{}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fds
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if t, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && t == "/dev/fuse" {
			fds[fd] = true
		}
	}
	return fds
}

// newFuseFD returns the one descriptor on /dev/fuse in after that is not
// in before, or -1.
func newFuseFD(before, after map[int]bool) int {
	fd := -1
	for d := range after {
		if !before[d] {
			if fd >= 0 {
				return -1
			}
			fd = d
		}
	}
	return fd
}
