package fusefs

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/repofs/repofs/fusefs/internal/inflatecache"
	"github.com/repofs/repofs/repo"
)

// warmWorkers bounds the objects read at once by warm. Reading objects is
// disk-bound when the page cache is cold, and the disk serves a queue of
// requests far faster than the same requests one after another.
const warmWorkers = 16

// warm reads, concurrently, what listing t is about to ask for: the
// metadata of its files (readdir needs their types) and the trees of its
// subdirectories (readdirplus looks each one up next). One at a time, as
// `ostree ls` does, a cold listing waits for the disk once per entry.
// Errors are left for the real reads, which report them with their path.
func (f *FS) warm(t *repo.DirTree) {
	var jobs []func()
	for _, e := range t.Files {
		if _, ok := f.stats.get(e.Content); !ok {
			jobs = append(jobs, func() { f.stat(e.Content) })
		}
	}
	metas := map[repo.Checksum]bool{} // siblings mostly share one
	for _, e := range t.Dirs {
		if _, ok := f.trees.get(e.Tree); !ok {
			jobs = append(jobs, func() { f.dirTree(e.Tree) })
		}
		if _, ok := f.metas.get(e.Meta); !ok && !metas[e.Meta] {
			metas[e.Meta] = true
			jobs = append(jobs, func() { f.dirMeta(e.Meta) })
		}
	}
	runAll(jobs, warmWorkers)
}

// runAll runs jobs on up to n goroutines and returns when all are done.
func runAll(jobs []func(), n int) {
	if len(jobs) < 2 {
		for _, j := range jobs {
			j()
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, len(jobs)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(jobs)); i = next.Add(1) - 1 {
				jobs[i]()
			}
		})
	}
	wg.Wait()
}

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
// when that directory's listing ends (storeListed). On the Go tree, cold
// reading every file took 1.84-1.98 s with the chain against 2.05-2.33 s
// without it (2 cores).
// smallFile is the size up to which read-ahead takes a file whole: the
// size up to which the content cache keeps it in memory.
const smallFile = inflatecache.SmallFile

const (
	readAheadBytes = 4 << 20 // inflated bytes handed out per batch
	readAheadFiles = 32
	// readAheadLargeFiles is how many large files a batch takes: two
	// inflate on two cores while their reader reads a third.
	readAheadLargeFiles = 2
	// readAheadLarge is how far ahead of its reader a large file is
	// inflated (and how much of a large file a batch inflates), in steps
	// of readAheadStep so that the reader's own READs are never kept
	// waiting for more than a step.
	readAheadLarge = 16 << 20
	readAheadStep  = 256 << 10
)

// readAhead hands the files after idx in d, up to readAheadBytes, to the
// background inflaters; each file of d at most once. With every inflater
// busy, the reader inflates for itself, and the first inflater to run out
// of work starts d's next batch (see batch.work): otherwise a tripwire
// read while the batch is still being inflated would start nothing.
func (f *FS) readAhead(d *dirNode, idx int) {
	if d == nil {
		return
	}
	d.entered.Store(true)
	select {
	case f.inflaters <- struct{}{}:
		f.startBatch(d, idx+1)
	default:
		d.pending.Store(true)
		return
	}
	if d.handedOut() {
		f.tryChain(d, 0)
	}
}

// handedOut reports whether every file of d went to read-ahead.
func (d *dirNode) handedOut() bool { return d.ahead.Load() >= int64(len(d.tree.Files)) }

// tryChain goes on from d to the directory a walk enters next, if an
// inflater is free.
func (f *FS) tryChain(d *dirNode, hops int32) {
	select {
	case f.inflaters <- struct{}{}:
		f.chainNext(d, hops)
	default:
	}
}

// chainSteps bounds the directories chainNext looks through for one with
// files to read ahead.
const chainSteps = 8

// chainHops is how many directories in a row the chain enters on their
// listings alone. The files of a chained directory are all stored, so its
// reader makes no READ to carry the chain on (each a round trip, one per
// directory); only every chainHops-th keeps a tripwire. A listing without
// a reader (ls -R after a read) takes the chain no further than that.
const chainHops = 4

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
func (f *FS) chainNext(d *dirNode, hops int32) {
	n := d
	for range chainSteps {
		if n = nextDir(n); n == nil || n.ahead.Load() > 0 {
			break
		}
		if len(n.tree.Files) > 0 {
			n.hops.Store(hops)
			f.startBatch(n, 0)
			return
		}
	}
	<-f.inflaters
}

// nextDir returns the directory a depth-first walk in name order enters
// after d's files, among those the kernel knows, or nil.
func nextDir(d *dirNode) *dirNode {
	if len(d.tree.Dirs) > 0 {
		return childDir(d, d.tree.Dirs[0].Name)
	}
	for cur := d; ; {
		name, p := cur.Parent()
		pd, ok := operations(p)
		if !ok {
			return nil // cur is a commit's root
		}
		if i, ok := findDir(pd.tree.Dirs, name); ok && i+1 < len(pd.tree.Dirs) {
			return childDir(pd, pd.tree.Dirs[i+1].Name)
		}
		cur = pd
	}
}

func childDir(d *dirNode, name string) *dirNode {
	n, _ := operations(d.GetChild(name))
	return n
}

// operations returns the dirNode of inode i, if it is one.
func operations(i *fs.Inode) (*dirNode, bool) {
	if i == nil {
		return nil, false
	}
	d, ok := i.Operations().(*dirNode)
	return d, ok
}

// startBatch hands the files of d from index from (or from where the last
// batch ended) to a batch, on the inflater slot the caller holds and as
// many more as are free; with nothing left to hand out, it frees the slot.
func (f *FS) startBatch(d *dirNode, from int) {
	for {
		cur := d.ahead.Load()
		jobs, to := f.readAheadJobs(d, max(int64(from), cur), readAheadFiles)
		if to <= cur {
			<-f.inflaters
			return
		}
		if !d.ahead.CompareAndSwap(cur, to) {
			continue
		}
		// Past files read-ahead does not take too: never scanned again.
		if len(jobs) == 0 {
			<-f.inflaters
			return
		}
		b := &batch{f: f, d: d, jobs: jobs, pre: make([]atomic.Pointer[repo.Prefetched], len(jobs)), tripwire: -1}
		if to < int64(len(d.tree.Files)) || !d.entered.Load() && d.hops.Load() >= chainHops-1 {
			// A directory chainNext began before its reader came
			// needs a READ as well, every chainHops directories, to
			// carry the chain on.
			b.tripwire = len(jobs) / 2
		}
		if !d.entered.Load() {
			d.early.Store(b) // see storeListed
		}
		go func() {
			b.prefetch()
			b.work()
		}()
		for range min(len(jobs), cap(f.inflaters)) - 1 {
			select {
			case f.inflaters <- struct{}{}:
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
	f    *FS
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

type readAheadJob struct {
	c    repo.Checksum
	size int64
	name string
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
	if b.d.pending.CompareAndSwap(true, false) {
		b.f.startBatch(b.d, 0)
		return
	}
	if b.d.entered.Load() && b.d.handedOut() {
		b.f.chainNext(b.d, 0)
		return
	}
	<-b.f.inflaters
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
		b.pre[i].Store(b.f.r.PrefetchFile(j.c))
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
	e, err := b.f.content.Acquire(j.c, j.size)
	if err != nil {
		return // the reader's own READ reports it
	}
	cold := false
	switch {
	case e.Streamed():
		// Streamed (no room on disk): inflated ahead, it would only be
		// overwritten before its reader comes. Released cold, to be
		// evicted first, or made again on disk.
		cold = true
	case e.OnDisk():
		inflateSteps(e, 0, min(j.size, readAheadLarge))
	case e.InflateFrom(p, j.size) == nil && !b.isTripwire(j.c):
		if cold = b.f.store(b.d, j.name, e); !cold {
			cold = b.unstore(i, e)
		}
	}
	b.f.content.Release(e, cold)
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
	return listed && b.f.store(b.d, b.jobs[i].name, e)
}

// storeListed stores the files of d's chained batch that were inflated
// before d was listed, now that the listing is done and the kernel knows
// their inodes. A walk lists a directory before it reads any file in it,
// so these are mostly still to be read.
func (f *FS) storeListed(d *dirNode) {
	b := d.early.Swap(nil)
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
		if e := f.content.Cached(b.jobs[i].c); e != nil {
			f.content.Release(e, f.store(d, b.jobs[i].name, e))
		}
	}
	// The walk is in d: on to the next directory, as a READ would.
	if hops := d.hops.Load() + 1; !d.entered.Load() && hops < chainHops && d.handedOut() {
		f.tryChain(d, hops)
	}
}

// isTripwire reports whether content c is the tripwire's: files of a
// commit with the same content share an inode, so storing any of them
// would fill the tripwire's pages too, and its READ would never come.
func (b *batch) isTripwire(c repo.Checksum) bool {
	return b.tripwire >= 0 && b.jobs[b.tripwire].c == c
}

// store puts a small file's verified bytes into the kernel's page cache
// for its inode, if the kernel knows the inode (readdirplus or a lookup
// made it), and reports whether it did. Best effort: a file the kernel no
// longer knows (ENOENT) is read through READ as usual. Never called with
// e.mu held: the kernel locks the pages it stores into, and a READ of
// those pages may be waiting for e.mu.
func (f *FS) store(d *dirNode, name string, e *inflatecache.Entry) bool {
	if !e.Verified() {
		return false // failed or unverified: its own READ reports it
	}
	if e.WasRead() {
		return true // in the page cache through its READ
	}
	ch := d.GetChild(name)
	return ch != nil && ch.WriteCache(0, e.Bytes()) == 0
}

// readAheadJobs lists the files of d from index from on that read-ahead
// takes: regular files with a payload whose metadata is cached, up to
// maxFiles, readAheadBytes of small files and readAheadLargeFiles large
// ones (of which the first readAheadLarge bytes). It also returns the
// index after the last file looked at.
func (f *FS) readAheadJobs(d *dirNode, from int64, maxFiles int) ([]readAheadJob, int64) {
	var jobs []readAheadJob
	bytes, large, to := int64(0), 0, from
	for ; to < int64(len(d.tree.Files)) && len(jobs) < maxFiles && bytes < readAheadBytes && large < readAheadLargeFiles; to++ {
		e := d.tree.Files[to]
		fi, ok := f.stats.get(e.Content)
		if !ok || fi.IsSymlink() || fi.Size == 0 || int64(fi.Size) > f.content.MaxDisk()/4 {
			// A file that large would push every other inflated file
			// out of the cache, then itself as soon as it is idle.
			continue
		}
		jobs = append(jobs, readAheadJob{e.Content, int64(fi.Size), e.Name})
		if fi.Size > smallFile {
			large++
		} else {
			bytes += int64(fi.Size)
		}
	}
	return jobs, to
}

// readAheadInFile inflates a large file (kept in a temporary file) ahead
// of a reader now at from, on another core, so that its next READs find
// their bytes inflated.
func (f *FS) readAheadInFile(e *inflatecache.Entry, from int64) {
	target := min(e.Size(), from+readAheadLarge)
	if e.Has(min(e.Size(), from+readAheadLarge/2)) || !f.startInFile(e) {
		return // inflated far enough ahead, or being
	}
	f.content.Hold(e) // the caller's reference ends with its READ
	go func() {
		defer func() {
			f.content.Release(e, false)
			f.endInFile(e)
		}()
		if from <= readAheadLarge {
			// Near its start (whatever the size of the first READs):
			// the disk may read the whole object ahead.
			f.r.PrefetchFile(e.Sum()).Close()
		}
		inflateSteps(e, from, target)
	}()
}

// startInFile takes an inflater slot for an in-file read-ahead of e,
// unless one runs for e already or every slot is taken.
func (f *FS) startInFile(e *inflatecache.Entry) bool {
	f.inFileMu.Lock()
	defer f.inFileMu.Unlock()
	if slices.Contains(f.inFile, e) {
		return false
	}
	select {
	case f.inflaters <- struct{}{}:
	default:
		return false
	}
	f.inFile = append(f.inFile, e)
	return true
}

// endInFile ends the in-file read-ahead of e and frees its slot.
func (f *FS) endInFile(e *inflatecache.Entry) {
	f.inFileMu.Lock()
	if i := slices.Index(f.inFile, e); i >= 0 {
		f.inFile = slices.Delete(f.inFile, i, i+1)
	}
	f.inFileMu.Unlock()
	<-f.inflaters
}

// inflateSteps inflates e from from up to target in steps of
// readAheadStep, so that a READ waiting for e.mu waits one step at most.
func inflateSteps(e *inflatecache.Entry, from, target int64) {
	for t := max(from, e.Inflated()); t < target; {
		t = min(t+readAheadStep, target)
		if e.InflateTo(t) != nil {
			return
		}
		runtime.Gosched() // see batch.work
	}
}
