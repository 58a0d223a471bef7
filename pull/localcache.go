package pull

import (
	"fmt"
	"sync"

	"github.com/repofs/repofs/repo"
)

// Local cache repositories (ostree's pull --localcache-repo): before an
// object is fetched, each is looked in, in order; an object found there is
// copied (or hardlinked) in and verified against its checksum like a
// fetched one. One that fails verification is not used: the object is
// fetched, and Options.Notice hears of it.

// cacheRepo is one repository of Options.LocalCache, with the Importer
// of its objects into the pull's transaction, made once per pull (it
// decides once whether objects can be hardlinked, and bounds the large
// objects held in memory across all the pull's workers).
type cacheRepo struct {
	*repo.Repo
	once sync.Once
	imp  *repo.Importer
}

// importer returns the Importer of the cache's objects into tx, the
// pull's one transaction.
func (cr *cacheRepo) importer(tx *repo.Transaction) *repo.Importer {
	cr.once.Do(func() { cr.imp = tx.Importer(cr.Repo) })
	return cr.imp
}

// openLocalCaches opens the repositories of Options.LocalCache.
func openLocalCaches(remote string, paths []string) ([]*cacheRepo, error) {
	var out []*cacheRepo
	for _, p := range paths {
		r, err := repo.Open(p)
		if err != nil {
			return nil, fmt.Errorf("pull %s: --localcache-repo=%s: %w", remote, p, err)
		}
		out = append(out, &cacheRepo{Repo: r})
	}
	return out, nil
}

// metaFromCache returns metadata object c of type t from a local cache
// repository, staged, or nil when no cache has a good copy.
func (p *puller) metaFromCache(c repo.Checksum, t repo.ObjectType) ([]byte, error) {
	for _, src := range p.caches {
		if ok, err := src.HasObject(c, t); err != nil || !ok {
			continue
		}
		data, err := src.ReadMetadata(c, t)
		if err == nil && t == repo.ObjCommit {
			_, err = repo.CheckMetadata(t, data, &c) // staged by stageCommit
		} else if err == nil {
			_, err = p.tx.WriteMetadata(t, data, &c)
		}
		if err != nil {
			if fatal := p.cacheFailed(src.Repo, c, t, err); fatal != nil {
				return nil, fatal
			}
			continue
		}
		p.fromCache.Add(1)
		return data, nil
	}
	return nil, nil
}

// contentFromCache stages content object c from a local cache repository;
// false when no cache has a good copy.
func (p *puller) contentFromCache(c repo.Checksum) (bool, error) {
	for _, src := range p.caches {
		if ok, err := src.HasObject(c, repo.ObjFile); err != nil || !ok {
			continue
		}
		_, n, err := src.importer(p.tx).Import(c, repo.ObjFile, true)
		if err != nil {
			if fatal := p.cacheFailed(src.Repo, c, repo.ObjFile, err); fatal != nil {
				return false, fatal
			}
			continue
		}
		p.fromCache.Add(1)
		p.written.Add(n)
		return true, nil
	}
	return false, nil
}

// cacheFailed sorts a local cache's failure: a bad or unreadable object
// is skipped (nil: it is fetched instead, and Notice hears why); a full
// disk ends the pull.
func (p *puller) cacheFailed(src *repo.Repo, c repo.Checksum, t repo.ObjectType, err error) error {
	if noSpace(err) {
		return fmt.Errorf("pull %s: %w", p.o.Remote, err)
	}
	if p.o.Notice != nil {
		p.o.Notice(fmt.Errorf("pull %s: --localcache-repo=%s: object %s.%s not used, fetching it instead: %w", p.o.Remote, src.Path(), c, t.Ext(), err))
	}
	return nil
}
