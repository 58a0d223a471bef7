package pull

import (
	"context"
	"fmt"
	"runtime"
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
	im := &importer{tx: tx, imp: tx.Importer(src), dst: dst, src: src, o: o, seen: map[repo.Checksum]bool{}, work: make(chan repo.Checksum, o.Parallel)}
	// Long-lived workers, rather than a goroutine per object: each new
	// goroutine grew its stack anew, by copies, as it went down through
	// inflate and the system calls.
	var workers sync.WaitGroup
	defer func() { close(im.work); workers.Wait() }()
	for range o.Parallel {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for c := range im.work {
				if err := im.object(c, repo.ObjFile); err != nil {
					im.fail(err)
				}
				im.wg.Done()
			}
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

type importer struct {
	tx       *repo.Transaction
	imp      *repo.Importer
	dst, src *repo.Repo
	o        LocalOptions

	meta, content, bytes atomic.Int64

	mu   sync.Mutex
	seen map[repo.Checksum]bool // dirtrees and content objects visited
	work chan repo.Checksum     // content objects for the workers
	wg   sync.WaitGroup         // content objects sent and not yet imported
	err  error
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
	im.dir(ctx, cm.RootTree)
	im.wg.Wait()
	return im.err
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

func (im *importer) firstVisit(c repo.Checksum) bool {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.seen[c] || im.err != nil {
		return false
	}
	im.seen[c] = true
	return true
}

// dir imports a dirtree, its subdirectories and content objects, the
// content in parallel; errors go to im.err.
func (im *importer) dir(ctx context.Context, tree repo.Checksum) {
	if !im.firstVisit(tree) {
		return
	}
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
	for _, f := range dt.Files {
		if !im.firstVisit(f.Content) {
			continue
		}
		im.wg.Add(1)
		im.work <- f.Content
	}
	for _, d := range dt.Dirs {
		if err := im.object(d.Meta, repo.ObjDirMeta); err != nil {
			im.fail(err)
			return
		}
		im.dir(ctx, d.Tree)
	}
}
