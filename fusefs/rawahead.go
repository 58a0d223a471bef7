package fusefs

// Disk read-ahead for bare repositories, whose files are read from the
// object files themselves. A reader going through a directory's files
// (cp -r, tar, grep -r) has the mount read each object when its READ
// comes: on a cold page cache, one disk read at a time, each on the
// reader's time, where in a checkout the files of a directory lie side by
// side and the disk's read-ahead covers several. When a reader starts a
// file, the disk is asked for the objects of the next small files at once
// (PrefetchFile: fadvise WILLNEED), so that their READs find them in the
// page cache. It takes the files archive read-ahead would (readAheadJobs),
// readAheadFiles at a time; a large file is left to the kernel's own
// read-ahead as it is read, as on archive mounts.

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
	if int64(idx)+readAheadFiles/2 < cur {
		return // far enough ahead, in d or (d all handed out) after it
	}
	select {
	case f.rawAheaders <- struct{}{}:
	default:
		return
	}
	var jobs []readAheadJob
	to := cur
	if cur < int64(len(d.tree.Files)) {
		jobs, to = f.readAheadJobs(d, max(cur, int64(idx)+1), readAheadFiles)
		if !d.ahead.CompareAndSwap(cur, to) {
			<-f.rawAheaders
			return
		}
	}
	for n, steps := d, 0; to == int64(len(n.tree.Files)) && len(jobs) < readAheadFiles && steps < chainSteps; steps++ {
		if n = nextDir(n); n == nil || n.ahead.Load() != 0 {
			break // none, or its own READs took it on
		}
		var more []readAheadJob
		if more, to = f.readAheadJobs(n, 0, readAheadFiles-len(jobs)); !n.ahead.CompareAndSwap(0, to) {
			break
		}
		jobs = append(jobs, more...)
	}
	if len(jobs) == 0 {
		<-f.rawAheaders
		return
	}
	go func() {
		defer func() { <-f.rawAheaders }()
		for _, j := range jobs {
			if j.size <= smallFile {
				f.r.PrefetchFile(j.c).Close()
			}
		}
	}()
}
