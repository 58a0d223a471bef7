package fusefs

import (
	"encoding/binary"
	"errors"
	"sync"
	"syscall"

	"github.com/repofs/repofs/repo"
)

// maxVerified bounds the objects a mount remembers as verified: a set of
// 64-bit keys, some 10 to 20 bytes each, so at most about 20 MiB. A full
// set starts over, which costs a second verification of an object read
// again, never an unverified byte.
const maxVerified = 1 << 20

// maxLogged bounds the corrupted objects remembered as already logged.
const maxLogged = 1 << 10

// verifier remembers which content objects of a bare repository the mount
// has checked against their checksums, so that each is hashed once per
// mount, and runs each check once however many READs wait for it. A
// failed check is not remembered: the next READ checks again, and so sees
// an object repaired meanwhile (fsck --delete, then pull).
//
// An object is remembered by the first 64 bits of its checksum. Objects
// are named by their SHA-256, so for an object to pass unchecked its name
// would have to share those bits with one already checked: a 2^64 search
// for whoever can write to the repository, who can do worse anyway.
type verifier struct {
	mu      sync.Mutex
	ok      map[uint64]struct{}
	running map[repo.Checksum]*verifyCall
	logged  map[repo.Checksum]struct{} // corrupted objects already logged
}

type verifyCall struct {
	done    chan struct{}
	err     error
	waiters int // READs waiting for it (for tests)
}

func newVerifier() *verifier {
	return &verifier{ok: map[uint64]struct{}{}, running: map[repo.Checksum]*verifyCall{}, logged: map[repo.Checksum]struct{}{}}
}

// waiting returns how many checks wait for the one of c that runs.
func (v *verifier) waiting(c repo.Checksum) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if call := v.running[c]; call != nil {
		return call.waiters
	}
	return 0
}

func verifyKey(c repo.Checksum) uint64 { return binary.LittleEndian.Uint64(c[:8]) }

// verified reports whether c was checked and found intact.
func (v *verifier) verified(c repo.Checksum) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.ok[verifyKey(c)]
	return ok
}

// passed records that c was found intact.
func (v *verifier) passed(c repo.Checksum) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pass(c)
}

func (v *verifier) pass(c repo.Checksum) {
	if len(v.ok) >= maxVerified {
		clear(v.ok)
	}
	v.ok[verifyKey(c)] = struct{}{}
	delete(v.logged, c)
}

// check runs verify for c unless c was verified already, and returns its
// error. READs of c that come while it runs wait for it and share its
// result.
func (v *verifier) check(c repo.Checksum, verify func() error) error {
	v.mu.Lock()
	if _, ok := v.ok[verifyKey(c)]; ok {
		v.mu.Unlock()
		return nil
	}
	if call := v.running[c]; call != nil {
		call.waiters++
		v.mu.Unlock()
		<-call.done
		return call.err
	}
	call := &verifyCall{done: make(chan struct{})}
	v.running[c] = call
	v.mu.Unlock()

	call.err = verify()
	v.mu.Lock()
	delete(v.running, c)
	if call.err == nil {
		v.pass(c)
	}
	v.mu.Unlock()
	close(call.done)
	return call.err
}

// firstFailure reports whether c's corruption is news: true the first
// time, false until c passes a check again.
func (v *verifier) firstFailure(c repo.Checksum) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.logged[c]; ok {
		return false
	}
	if len(v.logged) >= maxLogged {
		clear(v.logged)
	}
	v.logged[c] = struct{}{}
	return true
}

// fail answers a READ of n that failed: a corrupted object is EIO, and
// logged once, naming the object and what to do; other errors (a missing
// object, an I/O error) map as any other.
func (b *bareReader) fail(n *fileNode, err error) syscall.Errno {
	path := b.f.r.ObjectPath(n.content, repo.ObjFile)
	if !errors.Is(err, repo.ErrCorrupt) {
		return b.f.errno("read "+path, err)
	}
	if b.verify.firstFailure(n.content) {
		b.f.log.Error("fusefs: corrupted object: reads of its files fail with EIO until it is repaired (repofs fsck --delete, then pull it again)",
			"object", path, "commit", n.ci.c.String(), "err", err)
	}
	return syscall.EIO
}

// trustDisk has the bare strategy serve objects unchecked
// (MountOptions.NoVerify). Archive files are checked as they are
// inflated, which they must be anyway. Called before the mount serves.
func (f *FS) trustDisk() {
	if b, ok := f.read.(*bareReader); ok {
		b.verify = nil
	}
}
