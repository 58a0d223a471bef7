package fusefs

import "github.com/repofs/repofs/repo"

// Disk read-ahead for bare repositories, whose files are read from the
// object files themselves. A reader going through a directory's files
// (cp -r, tar, grep -r) has the mount read each object when its READ
// comes: on a cold page cache, one disk read at a time, each on the
// reader's time, where in a checkout the files of a directory lie side by
// side and the disk's read-ahead covers several. When a reader starts a
// file, the disk is asked for the objects of the next files of the
// directory at once (PrefetchFile: fadvise WILLNEED), so that their READs
// find them in the page cache.
const (
	rawAheadFiles = 32
	rawAheadBytes = 8 << 20
)

// rawReadAhead asks the disk for the objects of the files after idx in d,
// each file at most once, when the reader is within half a batch of where
// the last batch ended. A batch that reaches the end of d goes on into the
// directories a depth-first walk enters next (nextDir), so that their
// first files are not read cold either. At most cap(rawAheaders) batches
// run at once; a READ that finds them all busy leaves the next batch to a
// later READ.
func (f *FS) rawReadAhead(d *dirNode, idx int) {
	if d == nil {
		return
	}
	cur := d.ahead.Load()
	if int64(idx)+rawAheadFiles/2 < cur {
		return // far enough ahead, in d or (d all handed out) after it
	}
	select {
	case f.rawAheaders <- struct{}{}:
	default:
		return
	}
	var cs []repo.Checksum
	var bytes int64
	to := cur
	if cur < int64(len(d.tree.Files)) {
		to = f.rawTake(d, max(cur, int64(idx)+1), &cs, &bytes)
		if !d.ahead.CompareAndSwap(cur, to) {
			<-f.rawAheaders
			return
		}
	}
	for n, steps := d, 0; to == int64(len(n.tree.Files)) && len(cs) < rawAheadFiles && bytes < rawAheadBytes && steps < chainSteps; steps++ {
		if n = nextDir(n); n == nil {
			break
		}
		if n.ahead.Load() != 0 {
			break // its own READs took it on
		}
		k := len(cs)
		if to = f.rawTake(n, 0, &cs, &bytes); !n.ahead.CompareAndSwap(0, to) {
			cs = cs[:k]
			break
		}
	}
	if len(cs) == 0 {
		<-f.rawAheaders
		return
	}
	go func() {
		defer func() { <-f.rawAheaders }()
		for _, c := range cs {
			f.r.PrefetchFile(c).Close()
		}
	}()
}

// rawTake adds to cs the objects of d's files from index from on, until
// the batch is full, and returns the index it stopped at. Files whose
// metadata is not cached yet are passed over: a listing caches it.
func (f *FS) rawTake(d *dirNode, from int64, cs *[]repo.Checksum, bytes *int64) int64 {
	to := from
	for ; to < int64(len(d.tree.Files)) && len(*cs) < rawAheadFiles && *bytes < rawAheadBytes; to++ {
		e := d.tree.Files[to]
		if fi, ok := f.stats.get(e.Content); ok && !fi.IsSymlink() && fi.Size > 0 {
			*cs = append(*cs, e.Content)
			*bytes += int64(fi.Size)
		}
	}
	return to
}
