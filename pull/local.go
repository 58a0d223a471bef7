package pull

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/repofs/repofs/repo"
)

// LocalOptions describe a pull from another repository on this machine.
type LocalOptions struct {
	// Refs are refs (or commit checksums) of the source; empty means all
	// its refs/heads.
	Refs []string
	// Depth is how many parents to import as well (-1: all).
	Depth int
	// Untrusted checks every object against its checksum. Without it the
	// source is trusted as ostree trusts it: an object hardlinked, or a
	// regular file decoded from an archive source, is not hashed (see
	// repo.Importer.Import).
	Untrusted bool
	// Parallel objects imported at once (default one more than the CPUs
	// Go runs on: copying from an archive is inflate-bound, a worker
	// rarely waits, and each worker holds its buffers; the one more
	// keeps the CPUs busy while one does).
	Parallel int
}

// LocalResult counts what PullLocal imported, as ostree's pull-local
// reports it.
type LocalResult struct {
	Metadata, Content int64
	ContentBytes      int64 // bytes of content copied (not linked)
	Refs              map[string]repo.Checksum
}

// PullLocal imports refs and the objects they reach from src into dst, in
// one transaction, as ostree's pull-local does: objects are hardlinked
// where both repositories store them alike on one filesystem and copied
// (rewritten in dst's mode) otherwise; refs are written to dst's
// refs/heads.
func PullLocal(ctx context.Context, dst, src *repo.Repo, o LocalOptions) (*LocalResult, error) {
	if o.Parallel <= 0 {
		o.Parallel = runtime.GOMAXPROCS(0) + 1
	}
	names := o.Refs
	if len(names) == 0 {
		refs, err := src.ListRefs("", false)
		if err != nil {
			return nil, fmt.Errorf("pull-local %s: %w", src.Path(), err)
		}
		for _, r := range refs {
			if r.Remote == "" {
				names = append(names, r.Name)
			}
		}
	}
	res := &LocalResult{Refs: map[string]repo.Checksum{}}
	var refs []string
	for _, n := range names {
		c, err := src.ResolveRev(n)
		if err != nil {
			return nil, err
		}
		res.Refs[n] = c
		if !repo.IsChecksum(n) {
			refs = append(refs, n)
		}
	}
	tx, err := dst.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("pull-local: %w", err)
	}
	defer tx.Abort()
	im := &importer{tx: tx, imp: tx.Importer(src), dst: dst, src: src, o: o, seen: map[repo.Checksum]bool{}}
	im.more.L, im.done.L = &im.mu, &im.mu
	var workers sync.WaitGroup
	defer func() { im.stop(); workers.Wait() }()
	for range o.Parallel {
		workers.Add(1)
		go func() {
			defer workers.Done()
			im.work(ctx)
		}()
	}
	for _, n := range names {
		if err := im.commitChain(ctx, res.Refs[n]); err != nil {
			return nil, err
		}
	}
	for _, n := range refs {
		if err := tx.SetRef("", n, res.Refs[n]); err != nil {
			return nil, fmt.Errorf("pull-local: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("pull-local: %w", err)
	}
	res.Metadata, res.Content, res.ContentBytes = im.meta.Load(), im.content.Load(), im.bytes.Load()
	return res, nil
}

// importer walks the trees of the commits imported with a fixed set of
// long-lived workers (rather than a goroutine per object: each new
// goroutine grew its stack anew, by copies, as it went down through
// inflate and the system calls). Workers take both content objects and
// dirtrees from one queue, a dirtree's entries going back into it: no
// single walker paces them, which left workers waiting for their next
// object while it waited for a CPU to run on.
type importer struct {
	tx       *repo.Transaction
	imp      *repo.Importer
	dst, src *repo.Repo
	o        LocalOptions

	meta, content, bytes atomic.Int64

	mu      sync.Mutex
	more    sync.Cond              // on mu: tasks queued, or stopped
	done    sync.Cond              // on mu: pending fell to 0
	seen    map[repo.Checksum]bool // dirtrees, dirmeta and content objects visited
	queue   []localTask            // taken last in, first out: see push
	pending int                    // tasks queued or being done
	stopped bool                   // no more tasks: workers return
	err     error
}

// localTask is a content object or a dirtree to import.
type localTask struct {
	c   repo.Checksum
	dir bool
}

// work does tasks until stop.
func (im *importer) work(ctx context.Context) {
	for {
		im.mu.Lock()
		for len(im.queue) == 0 && !im.stopped {
			im.more.Wait()
		}
		if im.stopped {
			im.mu.Unlock()
			return
		}
		t := im.queue[len(im.queue)-1]
		im.queue = im.queue[:len(im.queue)-1]
		failed := im.err != nil
		im.mu.Unlock()
		if !failed {
			if t.dir {
				im.dir(ctx, t.c)
			} else if err := im.object(t.c, repo.ObjFile); err != nil {
				im.fail(err)
			}
		}
		im.mu.Lock()
		if im.pending--; im.pending == 0 {
			im.done.Broadcast()
		}
		im.mu.Unlock()
	}
}

// push queues the tasks ts, those not visited yet, to be taken in the
// order of ts: the queue is taken last in, first out, so the objects are
// imported in the order of a walk of the tree (a directory's files, then
// each subdirectory in turn), the order the one walker had. Large files
// sit together in a few directories: taken in that order they come
// mid-import, where the staging directory's background writeback takes
// them, rather than at its end, left to the commit's syncfs.
func (im *importer) push(ts []localTask) {
	im.mu.Lock()
	defer im.mu.Unlock()
	n := 0
	for _, t := range slices.Backward(ts) {
		if im.seen[t.c] || im.err != nil {
			continue
		}
		im.seen[t.c] = true
		im.queue = append(im.queue, t)
		n++
	}
	im.pending += n
	switch {
	case n == 1:
		im.more.Signal()
	case n > 1:
		im.more.Broadcast()
	}
}

// wait waits until every task queued is done, and returns the first
// error of any.
func (im *importer) wait() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	for im.pending > 0 {
		im.done.Wait()
	}
	return im.err
}

// stop makes the workers return.
func (im *importer) stop() {
	im.mu.Lock()
	im.stopped = true
	im.more.Broadcast()
	im.mu.Unlock()
}

// commitChain imports commit c and its tree, then its parents up to the
// depth asked; a parent the source lacks ends the chain, as in ostree.
func (im *importer) commitChain(ctx context.Context, c repo.Checksum) error {
	for depth := 0; im.o.Depth < 0 || depth <= im.o.Depth; depth++ {
		if err := im.commit(ctx, c); err != nil {
			return err
		}
		cm, err := im.src.ReadCommit(c)
		if err != nil || !cm.HasParent {
			return err
		}
		if ok, err := im.src.HasObject(cm.Parent, repo.ObjCommit); err != nil || !ok {
			return err
		}
		c = cm.Parent
	}
	return nil
}

func (im *importer) commit(ctx context.Context, c repo.Checksum) error {
	if ok, err := im.tx.HasObject(c, repo.ObjCommit); err != nil {
		return err
	} else if ok {
		if partial, err := im.dst.IsPartial(c); err != nil || !partial {
			return err
		}
	}
	cm, err := im.src.ReadCommit(c)
	if err != nil {
		return fmt.Errorf("pull-local %s: %w", im.src.Path(), err)
	}
	if err := im.tx.MarkPartial(c); err != nil {
		return err
	}
	if err := im.object(c, repo.ObjCommit); err != nil {
		return err
	}
	if ok, _ := im.src.HasObject(c, repo.ObjCommitMeta); ok {
		if err := im.object(c, repo.ObjCommitMeta); err != nil {
			return err
		}
	}
	if err := im.object(cm.RootMeta, repo.ObjDirMeta); err != nil {
		return err
	}
	im.push([]localTask{{c: cm.RootTree, dir: true}})
	return im.wait()
}

// object imports one object and counts it.
func (im *importer) object(c repo.Checksum, t repo.ObjectType) error {
	how, n, err := im.imp.Import(c, t, im.o.Untrusted)
	if err != nil {
		return fmt.Errorf("pull-local %s: %w", im.src.Path(), err)
	}
	if how == repo.ImportPresent {
		return nil
	}
	if t == repo.ObjFile {
		im.content.Add(1)
		im.bytes.Add(n)
	} else {
		im.meta.Add(1)
	}
	return nil
}

// fail records the first error.
func (im *importer) fail(err error) {
	im.mu.Lock()
	if im.err == nil {
		im.err = err
	}
	im.mu.Unlock()
}

// dir imports dirtree tree and the dirmeta of its subdirectories, and
// queues its content objects and subdirectories; errors go to im.err.
func (im *importer) dir(ctx context.Context, tree repo.Checksum) {
	if err := ctx.Err(); err != nil {
		im.fail(err)
		return
	}
	if err := im.object(tree, repo.ObjDirTree); err != nil {
		im.fail(err)
		return
	}
	dt, err := im.src.ReadDirTree(tree)
	if err != nil {
		im.fail(fmt.Errorf("pull-local %s: %w", im.src.Path(), err))
		return
	}
	ts := make([]localTask, 0, len(dt.Files)+len(dt.Dirs))
	for _, f := range dt.Files {
		ts = append(ts, localTask{c: f.Content})
	}
	for _, d := range dt.Dirs {
		// Most directories share a few dirmeta: workers importing one at
		// once would each count it imported.
		if im.firstVisit(d.Meta) {
			if err := im.object(d.Meta, repo.ObjDirMeta); err != nil {
				im.fail(err)
				return
			}
		}
		ts = append(ts, localTask{c: d.Tree, dir: true})
	}
	im.push(ts)
}

// firstVisit reports whether c is visited for the first time, and marks
// it visited.
func (im *importer) firstVisit(c repo.Checksum) bool {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.seen[c] {
		return false
	}
	im.seen[c] = true
	return true
}
