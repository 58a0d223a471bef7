package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/repo"
)

// bareReader serves the reads of a bare repository's mount (bare,
// bare-user, bare-user-only) from the object files themselves, and asks
// the disk ahead for the objects of the files a reader goes on to.
//
// Disk read-ahead: on a cold page cache a reader going through a
// directory's files (cp -r, tar, grep -r) has the mount read each object
// when its READ comes, one disk read at a time, each on the reader's time,
// where in a checkout the files of a directory lie side by side and the
// disk's read-ahead covers several. When a reader starts a file, the disk
// is asked for the objects of the next small files at once (PrefetchFile:
// fadvise WILLNEED), so that their READs find them in the page cache. It
// takes the files archive read-ahead would (readAheadJobs), readAheadFiles
// at a time; a large file is left to the kernel's own read-ahead as it is
// read, as on archive mounts.
type bareReader struct {
	f *FS
	// maxSize is the size beyond which read-ahead passes a file over:
	// the archive strategy's, so that both take the same files.
	maxSize int64
	// slots bounds the disk read-ahead batches running at once.
	slots chan struct{}
	// verify remembers the objects checked against their checksums; nil
	// when the mount trusts the disk (MountOptions.NoVerify).
	verify *verifier
}

func newBareReader(f *FS) *bareReader {
	return &bareReader{f: f, maxSize: f.o.CacheBytes / 4, slots: make(chan struct{}, 2), verify: newVerifier()}
}

// read reads n's object file. Opening it per READ costs a few
// microseconds, next to a round trip; a small file is one READ.
//
// No byte of an object reaches the reader before the whole object was
// checked against its checksum (once per mount): a file read whole by its
// first READ is checked in the bytes read, a larger one is read through
// once first (VerifyContent). A corrupted object is EIO, so none of its
// bytes enter the kernel's page cache, and it is checked again at the
// next READ: once repaired, it reads right in the same mount.
func (b *bareReader) read(n *fileNode, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off == 0 {
		b.readAhead(n.place())
	}
	if b.verify != nil && !b.verify.verified(n.content) {
		if off == 0 && n.fi.Size <= uint64(len(dest)) {
			return b.readWhole(n, dest)
		}
		// The READ's context ends when its caller gives up; the check
		// is shared with other READs, so it runs to its end.
		err := b.verify.check(n.content, func() error { return b.f.r.VerifyContent(context.Background(), n.content, n.fi) })
		if err != nil {
			return nil, b.fail(n, err)
		}
	}
	k, err := b.f.r.ReadRawAt(n.content, n.fi, dest, off)
	if err != nil {
		return nil, b.fail(n, err)
	}
	return fuse.ReadResultData(dest[:k]), 0
}

// readWhole reads all of n's object into dest, checks it and answers
// with it.
func (b *bareReader) readWhole(n *fileNode, dest []byte) (fuse.ReadResult, syscall.Errno) {
	k, err := b.f.r.ReadRawAt(n.content, n.fi, dest, 0)
	if err == nil {
		err = repo.CheckPayload(n.content, n.fi, dest[:k])
	}
	if err != nil {
		return nil, b.fail(n, err)
	}
	b.verify.passed(n.content)
	return fuse.ReadResultData(dest[:k]), 0
}

// listed has nothing to do: disk read-ahead keeps nothing for the kernel.
func (b *bareReader) listed(d *dirNode) {}

func (b *bareReader) idle() bool { return len(b.slots) == 0 }

// readAhead asks the disk for the objects of the files after idx in d,
// each file at most once, when the reader is within half a batch of where
// the last batch ended. A batch that reaches the end of d goes on into the
// directories a depth-first walk enters next (nextDir), so that their
// first files are not read cold either. At most cap(slots) batches run at
// once; a READ that finds them all busy leaves the next batch to a later
// READ.
func (b *bareReader) readAhead(d *dirNode, idx int) {
	if d == nil {
		return
	}
	cur := d.ahead.handed.Load()
	if int64(idx)+readAheadFiles/2 < cur {
		return // far enough ahead, in d or (d all handed out) after it
	}
	select {
	case b.slots <- struct{}{}:
	default:
		return
	}
	var jobs []readAheadJob
	to := cur
	if cur < int64(len(d.tree.Files)) {
		jobs, to = readAheadJobs(d, max(cur, int64(idx)+1), readAheadFiles, b.maxSize)
		if !d.ahead.handed.CompareAndSwap(cur, to) {
			<-b.slots
			return
		}
	}
	for n, steps := d, 0; to == int64(len(n.tree.Files)) && len(jobs) < readAheadFiles && steps < chainSteps; steps++ {
		if n = nextDir(n); n == nil || n.ahead.handed.Load() != 0 {
			break // none, or its own READs took it on
		}
		var more []readAheadJob
		if more, to = readAheadJobs(n, 0, readAheadFiles-len(jobs), b.maxSize); !n.ahead.handed.CompareAndSwap(0, to) {
			break
		}
		jobs = append(jobs, more...)
	}
	if len(jobs) == 0 {
		<-b.slots
		return
	}
	go func() {
		defer func() { <-b.slots }()
		for _, j := range jobs {
			if j.size <= smallFile {
				b.f.r.PrefetchFile(j.c).Close()
			}
		}
	}()
}
