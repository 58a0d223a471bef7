package fusefs

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/repofs/repofs/fusefs/internal/inflatecache"
	"github.com/repofs/repofs/repo"
)

// Read-ahead of archive files. A reader that goes through a directory's
// files one after another (cp -r, tar, grep -r) has each inflated on its
// own time, on one core, while the other idles. When it starts reading a
// file, the next files of the directory are inflated in the background,
// on every core, and each small one, once verified, is stored straight
// into the kernel's page cache for its inode (FUSE_NOTIFY_STORE): the
// reader then reads it without a round trip at all. One file in the middle
// of each batch, the tripwire, is only kept in the content cache: its READ
// tells the mount that the reader got that far and starts the next batch
// while the reader still has half of this one to read. Once a directory's
// files are all handed out, read-ahead goes on in the directory the walk
// enters next (chainNext), so that its first file is not inflated on the
// reader's time either; the files the kernel did not know yet are stored
// when that directory's listing ends (storeListed). A large file is
// inflated ahead of its reader as it is read (readAheadInFile).

const (
	// readAheadLarge is how far ahead of its reader a large file is
	// inflated (and how much of a large file a batch inflates), in steps
	// of readAheadStep so that the reader's own READs are never kept
	// waiting for more than a step.
	readAheadLarge = 16 << 20
	readAheadStep  = 256 << 10
)

// chainHops is how many directories in a row the chain enters on their
// listings alone. The files of a chained directory are all stored, so its
// reader makes no READ to carry the chain on (each a round trip, one per
// directory); only every chainHops-th keeps a tripwire. A listing without
// a reader (ls -R after a read) takes the chain no further than that.
const chainHops = 4

// archiveDirAhead is a directory's archive read-ahead state.
type archiveDirAhead struct {
	// pending is set by a READ that found every inflater busy; entered
	// by the first READ of one of the directory's files.
	pending atomic.Bool
	entered atomic.Bool
	// early is the batch chainNext began in the directory before it was
	// listed, until the listing ends (see storeListed); hops is how many
	// listings carried the chain there since the last READ.
	early atomic.Pointer[batch]
	hops  atomic.Int32
}

// maxSize is the size beyond which read-ahead passes a file over: one
// that large would push every other inflated file out of the cache, then
// itself as soon as it is idle.
func (a *archiveReader) maxSize() int64 { return a.cache.MaxDisk() / 4 }

// readAhead hands the files after idx in d, up to readAheadBytes, to the
// background inflaters; each file of d at most once. With every inflater
// busy, the reader inflates for itself, and the first inflater to run out
// of work starts d's next batch (see batch.work): otherwise a tripwire
// read while the batch is still being inflated would start nothing.
func (a *archiveReader) readAhead(d *dirNode, idx int) {
	if d == nil {
		return
	}
	d.ahead.archive.entered.Store(true)
	select {
	case a.slots <- struct{}{}:
		a.startBatch(d, idx+1)
	default:
		d.ahead.archive.pending.Store(true)
		return
	}
	if d.handedOut() {
		a.tryChain(d, 0)
	}
}

// tryChain goes on from d to the directory a walk enters next, if an
// inflater is free.
func (a *archiveReader) tryChain(d *dirNode, hops int32) {
	select {
	case a.slots <- struct{}{}:
		a.chainNext(d, hops)
	default:
	}
}

// chainNext starts, on the inflater slot the caller holds, a batch in the
// directory a depth-first walk (find, cp -r, tar) enters after d's files:
// d's first subdirectory, or else the next sibling of d or of one of its
// parents. A walk reads the first file there before any READ could start
// read-ahead in it, each time waiting for a cold inflate; started now, that
// file is ready (and, once its inode is known, in the page cache) when the
// walk gets there. Only directories the kernel already knows are taken:
// looking one up would cost the walk its own LOOKUP round trip, and one
// that was listed has its files' metadata cached (see warm). Directories
// whose read-ahead has begun are left to their READs. hops is how many
// listings carried the chain to d since the last READ.
func (a *archiveReader) chainNext(d *dirNode, hops int32) {
	n := d
	for range chainSteps {
		if n = nextDir(n); n == nil || n.ahead.handed.Load() > 0 {
			break
		}
		if len(n.tree.Files) > 0 {
			n.ahead.archive.hops.Store(hops)
			a.startBatch(n, 0)
			return
		}
	}
	<-a.slots
}

// startBatch hands the files of d from index from (or from where the last
// batch ended) to a batch, on the inflater slot the caller holds and as
// many more as are free; with nothing left to hand out, it frees the slot.
func (a *archiveReader) startBatch(d *dirNode, from int) {
	ad := &d.ahead.archive
	for {
		cur := d.ahead.handed.Load()
		jobs, to := readAheadJobs(d, max(int64(from), cur), readAheadFiles, a.maxSize())
		if to <= cur {
			<-a.slots
			return
		}
		if !d.ahead.handed.CompareAndSwap(cur, to) {
			continue
		}
		// Past files read-ahead does not take too: never scanned again.
		if len(jobs) == 0 {
			<-a.slots
			return
		}
		b := &batch{a: a, d: d, jobs: jobs, pre: make([]atomic.Pointer[repo.Prefetched], len(jobs)), tripwire: -1}
		if to < int64(len(d.tree.Files)) || !ad.entered.Load() && ad.hops.Load() >= chainHops-1 {
			// A directory chainNext began before its reader came
			// needs a READ as well, every chainHops directories, to
			// carry the chain on.
			b.tripwire = len(jobs) / 2
		}
		if !ad.entered.Load() {
			ad.early.Store(b) // see storeListed
		}
		go func() {
			b.prefetch()
			b.work()
		}()
		for range min(len(jobs), cap(a.slots)) - 1 {
			select {
			case a.slots <- struct{}{}:
				go b.work()
			default:
				return
			}
		}
		return
	}
}

// batch is the files one readAhead hands out, taken in order by as many
// inflaters as are free.
type batch struct {
	a    *archiveReader
	d    *dirNode
	jobs []readAheadJob
	next atomic.Int64 // index of the next job to take
	// pre holds the small files prefetch opened, for the job's inflater,
	// which takes each one (Swap) once it took the job.
	pre      []atomic.Pointer[repo.Prefetched]
	tripwire int // index in jobs of the file not stored; -1 for none

	// unstored are the jobs inflated before the kernel knew their
	// inodes, for storeListed; listed is set once it ran.
	mu       sync.Mutex
	unstored []int
	listed   bool
}

// work inflates jobs until none is left. Then it starts d's next batch
// with its inflater slot if a READ asked for one meanwhile, or frees it.
func (b *batch) work() {
	for i := int(b.next.Add(1) - 1); i < len(b.jobs); i = int(b.next.Add(1) - 1) {
		b.do(i)
		// The P to a READ that returned from the kernel meanwhile:
		// with every core inflating, it would wait out a time slice.
		runtime.Gosched()
	}
	ad := &b.d.ahead.archive
	if ad.pending.CompareAndSwap(true, false) {
		b.a.startBatch(b.d, 0)
		return
	}
	if ad.entered.Load() && b.d.handedOut() {
		b.a.chainNext(b.d, 0)
		return
	}
	<-b.a.slots
}

// prefetch has the disk read the batch's small files at once, while the
// first ones inflate, and keeps them open for their inflaters; not the
// large ones, of which the batch only inflates the start, nor those an
// inflater took already.
func (b *batch) prefetch() {
	for i, j := range b.jobs {
		if j.size > smallFile || b.next.Load() > int64(i) {
			continue
		}
		b.pre[i].Store(b.a.f.r.PrefetchFile(j.c))
		// Taken meanwhile, its inflater may have looked for it before
		// it was there: then it is not read through it.
		if b.next.Load() > int64(i) {
			b.pre[i].Swap(nil).Close()
		}
	}
}

// do inflates job i, which the caller took, and stores it.
func (b *batch) do(i int) {
	j := b.jobs[i]
	p := b.pre[i].Swap(nil)
	defer p.Close() // unless read
	e, err := b.a.cache.Acquire(j.c, j.size)
	if err != nil {
		return // the reader's own READ reports it
	}
	cold := false
	switch {
	case e.Streamed():
		// No room on disk: inflated ahead, it would only be
		// overwritten before its reader comes. Released cold, to be
		// evicted first, or made again on disk.
		cold = true
	case e.OnDisk():
		inflateSteps(e, 0, min(j.size, readAheadLarge))
	case e.InflateFrom(p, j.size) == nil && !b.isTripwire(j.c):
		if cold = store(b.d, j.name, e); !cold {
			cold = b.unstore(i, e)
		}
	}
	b.a.cache.Release(e, cold)
}

// unstore keeps job i, which could not be stored, for storeListed, or, if
// that already ran, stores it now (the kernel may know it by then).
func (b *batch) unstore(i int, e *inflatecache.Entry) bool {
	b.mu.Lock()
	listed := b.listed
	if !listed {
		b.unstored = append(b.unstored, i)
	}
	b.mu.Unlock()
	return listed && store(b.d, b.jobs[i].name, e)
}

// isTripwire reports whether content c is the tripwire's: files of a
// commit with the same content share an inode, so storing any of them
// would fill the tripwire's pages too, and its READ would never come.
func (b *batch) isTripwire(c repo.Checksum) bool {
	return b.tripwire >= 0 && b.jobs[b.tripwire].c == c
}

// storeListed stores the files of d's chained batch that were inflated
// before d was listed, now that the listing is done and the kernel knows
// their inodes. A walk lists a directory before it reads any file in it,
// so these are mostly still to be read.
func (a *archiveReader) storeListed(d *dirNode) {
	ad := &d.ahead.archive
	b := ad.early.Swap(nil)
	if b == nil {
		return
	}
	b.mu.Lock()
	b.listed = true
	unstored := b.unstored
	b.unstored = nil
	b.mu.Unlock()
	for _, i := range unstored {
		// One evicted meanwhile is left to its READ: not inflated again.
		if e := a.cache.Cached(b.jobs[i].c); e != nil {
			a.cache.Release(e, store(d, b.jobs[i].name, e))
		}
	}
	// The walk is in d: on to the next directory, as a READ would.
	if hops := ad.hops.Load() + 1; !ad.entered.Load() && hops < chainHops && d.handedOut() {
		a.tryChain(d, hops)
	}
}

// claimFiles makes d the place of each of its files that is placed
// elsewhere: files of a commit with the same content share one inode,
// which stays placed where it was looked up first, and a walk that just
// listed d reads it here next. Its READ then starts read-ahead in d, not
// in the directory the walk left long ago.
func claimFiles(d *dirNode) {
	for i, e := range d.tree.Files {
		ch := d.GetChild(e.Name)
		if ch == nil {
			continue // not looked up (yet)
		}
		if n, ok := ch.Operations().(*fileNode); ok {
			if at, _ := n.place(); at != d {
				n.at.moved.Store(&filePlace{d, i})
			}
		}
	}
}

// readAheadInFile inflates a large file (kept in a temporary file) ahead
// of a reader now at from, on another core, so that its next READs find
// their bytes inflated.
func (a *archiveReader) readAheadInFile(e *inflatecache.Entry, from int64) {
	target := min(e.Size(), from+readAheadLarge)
	if e.Has(min(e.Size(), from+readAheadLarge/2)) || !a.startInFile(e) {
		return // inflated far enough ahead, or being
	}
	a.cache.Hold(e) // the caller's reference ends with its READ
	go func() {
		defer func() {
			a.cache.Release(e, false)
			a.endInFile(e)
		}()
		if from <= readAheadLarge {
			// Near its start (whatever the size of the first READs):
			// the disk may read the whole object ahead.
			a.f.r.PrefetchFile(e.Sum()).Close()
		}
		inflateSteps(e, from, target)
	}()
}

// startInFile takes an inflater slot for an in-file read-ahead of e,
// unless one runs for e already or every slot is taken.
func (a *archiveReader) startInFile(e *inflatecache.Entry) bool {
	a.inFileMu.Lock()
	defer a.inFileMu.Unlock()
	if slices.Contains(a.inFile, e) {
		return false
	}
	select {
	case a.slots <- struct{}{}:
	default:
		return false
	}
	a.inFile = append(a.inFile, e)
	return true
}

// endInFile ends the in-file read-ahead of e and frees its slot.
func (a *archiveReader) endInFile(e *inflatecache.Entry) {
	a.inFileMu.Lock()
	if i := slices.Index(a.inFile, e); i >= 0 {
		a.inFile = slices.Delete(a.inFile, i, i+1)
	}
	a.inFileMu.Unlock()
	<-a.slots
}

// inflateSteps inflates e from from up to target in steps of
// readAheadStep, so that a READ waiting for e's lock waits one step at
// most.
func inflateSteps(e *inflatecache.Entry, from, target int64) {
	for t := max(from, e.Inflated()); t < target; {
		t = min(t+readAheadStep, target)
		if e.InflateTo(t) != nil {
			return
		}
		runtime.Gosched() // see batch.work
	}
}
