package pull

import (
	"context"
	"slices"
	"sync"

	"github.com/repofs/repofs/repo"
)

// pullTree fetches a tree's dirtrees and dirmetas and the content objects
// the repository lacks, with Parallel requests in flight. Content is
// fetched as soon as the dirtree naming it has been read, while the walk
// goes on: walking the whole tree first, level by level, left the
// connections idle at the end of every level. Directories go first in the
// queue, so the tree is known early.
//
// base, when set, is the root of a complete commit of the repository (the
// static delta's from-commit): a subtree unchanged from it is all there
// and not walked, nor is a file the same directory of base has.
//
// staged, when set, holds content objects a static delta staged in this
// transaction, verified: they are not looked up.
func (p *puller) pullTree(ctx context.Context, rootTree, rootMeta repo.Checksum, base *dirJob, staged *objectSet) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	root := dirJob{tree: rootTree, meta: rootMeta, base: base}
	q := &walkQueue{dirs: []dirJob{root}, contentSeen: map[repo.Checksum]bool{}, staged: staged}
	if _, _, ok := p.fc.pipelined(); ok && !p.dir.Reused {
		// Batches only while every worker could take one: the last
		// objects, often the largest, go one per worker, decoded in
		// parallel.
		q.batchFrom = pipelineDepth * max(p.o.Parallel, 1)
	}
	q.cond = sync.NewCond(&q.mu)
	var wg sync.WaitGroup
	for range max(p.o.Parallel, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, ok := q.next()
				if !ok {
					return
				}
				var err error
				switch {
				case len(j.dirs) > 0:
					err = p.walkDirs(ctx, q, j.dirs)
				case len(j.batch) > 0:
					err = p.fetchContents(ctx, j.batch)
				case j.content:
					err = p.fetchContent(ctx, j.c)
				default:
					err = p.walkDir(ctx, q, j.dir)
				}
				// The failure first, then the cancel that stops the requests
				// in flight: their "context canceled" must not be taken for
				// the first failure.
				q.done(err)
				if err != nil {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	if q.err == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return q.err
}

// dirJob is a directory to walk; base, when set, is the same directory
// in a complete commit.
type dirJob struct {
	tree, meta repo.Checksum
	base       *dirJob
}

type walkJob struct {
	content bool
	c       repo.Checksum   // content object
	batch   []repo.Checksum // content objects, fetched together (fetchContents)
	dir     dirJob
	dirs    []dirJob // directories, their dirtrees fetched together (walkDirs)
}

// walkQueue is the work of one tree walk: directories to read and content
// to fetch, and how many jobs are running (which may add more).
type walkQueue struct {
	mu          sync.Mutex
	cond        *sync.Cond
	dirs        []dirJob
	content     []repo.Checksum
	contentSeen map[repo.Checksum]bool
	staged      *objectSet // content a delta staged, or nil
	running     int
	err         error // the first failure; the walk stops
	// batchFrom, when not 0, is how many content objects must be queued
	// for next to hand out pipelineDepth of them at once.
	batchFrom int
}

// next waits for a job; false means the walk is over (done or failed).
func (q *walkQueue) next() (walkJob, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.err == nil && len(q.dirs) == 0 && len(q.content) == 0 && q.running > 0 {
		q.cond.Wait()
	}
	if q.err != nil {
		return walkJob{}, false
	}
	var j walkJob
	switch {
	case q.batchFrom > 0 && len(q.dirs) > pipelineDepth:
		n := len(q.dirs) - pipelineDepth
		j.dirs = slices.Clone(q.dirs[n:])
		q.dirs = q.dirs[:n]
	case len(q.dirs) > 0:
		j.dir = q.dirs[len(q.dirs)-1]
		q.dirs = q.dirs[:len(q.dirs)-1]
	case q.batchFrom > 0 && len(q.content) >= q.batchFrom:
		n := len(q.content) - pipelineDepth
		j = walkJob{content: true, batch: slices.Clone(q.content[n:])}
		q.content = q.content[:n]
	case len(q.content) > 0:
		j = walkJob{content: true, c: q.content[len(q.content)-1]}
		q.content = q.content[:len(q.content)-1]
	default:
		return walkJob{}, false // nothing queued, nothing running: done
	}
	q.running++
	return j, true
}

// done ends a job that next returned.
func (q *walkQueue) done(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.running--
	if err != nil && q.err == nil {
		q.err = err
	}
	q.cond.Broadcast()
}

// walkDir fetches a directory's dirmeta and dirtree, unless this pull has
// seen them already, and queues its subdirectories and the content it
// names that the repository lacks: not a file its base names too, nor
// one a static delta staged in this pull.
func (p *puller) walkDir(ctx context.Context, q *walkQueue, d dirJob) error {
	b := d.base
	if (b == nil || b.meta != d.meta) && p.firstVisit(d.meta) {
		if _, err := p.fetchMetadata(ctx, d.meta, repo.ObjDirMeta); err != nil {
			return err
		}
	}
	if b != nil && b.tree == d.tree {
		return nil // unchanged since a complete commit: all there
	}
	if !p.firstVisit(d.tree) {
		return nil
	}
	data, err := p.fetchMetadata(ctx, d.tree, repo.ObjDirTree)
	if err != nil {
		return err
	}
	t, err := repo.DecodeDirTree(d.tree, data)
	if err != nil {
		return err
	}
	var baseFiles map[string]repo.Checksum
	baseDirs := map[string]*dirJob{}
	if b != nil {
		if bt, err := p.baseDirTree(b.tree); err == nil {
			baseFiles = make(map[string]repo.Checksum, len(bt.Files))
			for _, fe := range bt.Files {
				baseFiles[fe.Name] = fe.Content
			}
			for _, sub := range bt.Dirs {
				baseDirs[sub.Name] = &dirJob{tree: sub.Tree, meta: sub.Meta}
			}
		} // else: unreadable, so checked as if there were no base
	}
	var missing []repo.Checksum
	for _, fe := range t.Files {
		if c, ok := baseFiles[fe.Name]; ok && c == fe.Content || q.staged.has(fe.Content) {
			continue
		}
		if q.firstContent(fe.Content) {
			have, err := p.tx.HasObject(fe.Content, repo.ObjFile)
			if err != nil {
				return err
			}
			if !have {
				missing = append(missing, fe.Content)
			}
		}
	}
	p.contentTotal.Add(int64(len(missing)))
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, sub := range t.Dirs {
		q.dirs = append(q.dirs, dirJob{tree: sub.Tree, meta: sub.Meta, base: baseDirs[sub.Name]})
	}
	q.content = append(q.content, missing...)
	q.cond.Broadcast()
	return nil
}

// walkDirs is walkDir of several directories, in order; the dirtrees
// among them that the repository lacks are fetched first, together
// (fetcher.fetchPipelined), verified and staged, and kept for walkDir
// (setLocalMeta). Those the pipeline did not bring walkDir fetches.
func (p *puller) walkDirs(ctx context.Context, q *walkQueue, ds []dirJob) error {
	var want []repo.Checksum
	for _, d := range ds {
		if d.base != nil && d.base.tree == d.tree || slices.Contains(want, d.tree) || !p.unvisited(d.tree) {
			continue
		}
		if have, err := p.tx.HasPublished(d.tree, repo.ObjDirTree); err != nil {
			return err
		} else if !have {
			want = append(want, d.tree)
		}
	}
	if len(want) > 1 {
		paths := make([]string, len(want))
		for i, c := range want {
			paths[i] = repo.ArchiveObjectPath(c, repo.ObjDirTree)
		}
		_, err := p.fc.fetchPipelined(ctx, paths, nil, maxMetadataFetch, func(i int, mem []byte, _ int64) error {
			if _, err := p.tx.WriteMetadata(repo.ObjDirTree, mem, &want[i]); err != nil {
				return err
			}
			p.metaFetched.Add(1)
			p.setLocalMeta(want[i], mem)
			return nil
		})
		if err != nil {
			return err
		}
		// One another worker walked meanwhile, having fetched it
		// itself, is not needed any more.
		defer func() {
			for _, c := range want {
				p.takeLocalMeta(c)
			}
		}()
	}
	for _, d := range ds {
		if err := p.walkDir(ctx, q, d); err != nil {
			return err
		}
	}
	return nil
}

// unvisited reports whether no walk took dirtree c yet, and no delta
// carried it (firstVisit takes it).
func (p *puller) unvisited(c repo.Checksum) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, carried := p.localMeta[c]
	return !p.seen[c] && !carried
}

// firstContent reports whether this walk meets content object c for the
// first time.
func (q *walkQueue) firstContent(c repo.Checksum) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.contentSeen[c] {
		return false
	}
	q.contentSeen[c] = true
	return true
}

// baseDirTree reads a dirtree of the base commit from the repository.
func (p *puller) baseDirTree(c repo.Checksum) (*repo.DirTree, error) {
	data, err := p.r.ReadMetadata(c, repo.ObjDirTree)
	if err != nil {
		return nil, err
	}
	return repo.DecodeDirTree(c, data)
}

// objectSet is a set of objects, safe for concurrent use; a nil set is
// empty.
type objectSet struct {
	mu sync.Mutex
	m  map[repo.Checksum]struct{}
}

func (s *objectSet) add(c repo.Checksum) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[repo.Checksum]struct{}{}
	}
	s.m[c] = struct{}{}
}

func (s *objectSet) has(c repo.Checksum) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[c]
	return ok
}
