package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/repofs/repofs/repo"
)

// pullCommit pulls commit c (at most size bytes; 0: no bound but the
// metadata one), its tree unless only metadata is wanted, and depth of its
// parents. ref, when set, is the ref c was pulled as: the commit's ref
// binding, if it has one, must name it. parent: c is an ancestor pulled for
// depth, which the server may have pruned. d, when set, is a static delta
// to c: its parts are applied before the tree walk, which then finds
// their objects staged and fetches only what they lacked.
func (p *puller) pullCommit(ctx context.Context, c repo.Checksum, depth int, size int64, ref string, parent bool, d *deltaPlan) error {
	vc, err := p.fetchCommit(ctx, c, size, ref, parent)
	if err != nil {
		return err
	}
	if err := p.stageCommit(vc); err != nil {
		return err
	}
	if p.o.CommitMetadataOnly {
		p.tx.KeepPartial(c)
	} else if !vc.complete {
		var base *dirJob
		var staged *objectSet
		if d != nil {
			if err := p.applyDelta(ctx, d); err != nil {
				return err
			}
			base, staged = p.deltaBase(d), &d.staged
		}
		if err := p.pullTree(ctx, vc.commit.RootTree, vc.commit.RootMeta, base, staged); err != nil {
			return err
		}
	}
	if vc.commit.HasParent && depth != 0 {
		err := p.pullCommit(ctx, vc.commit.Parent, depth-1, 0, "", true, nil)
		if err == errPruned {
			return nil // history pruned on the server: the parent is optional
		}
		return err
	}
	return nil
}

// verifiedCommit is a commit that fetchCommit checked and stageCommit
// stages.
type verifiedCommit struct {
	c      repo.Checksum
	data   []byte // the commit object
	commit *repo.Commit
	// meta is the remote's detached metadata (nil: it has none).
	meta []byte
	// stored: the repository has the commit object already; complete:
	// its whole tree too, and no resumed transaction may hold a part.
	stored, complete bool
}

// fetchCommit reads commit c from the repository or fetches it, and the
// remote's detached metadata, and checks them (checksum, ref binding,
// signatures) before anything is staged: an unverified commit must not be published,
// not even by a later transaction resuming this one's staged objects.
func (p *puller) fetchCommit(ctx context.Context, c repo.Checksum, size int64, ref string, parent bool) (*verifiedCommit, error) {
	vc := &verifiedCommit{c: c}
	var err error
	if vc.stored, vc.complete, err = p.commitState(c); err != nil {
		return nil, err
	}
	if vc.data, err = p.commitObject(ctx, c, size, vc.stored, parent); err != nil {
		return nil, err
	}
	if vc.commit, err = repo.DecodeCommit(c, vc.data); err != nil {
		return nil, err
	}
	if ref != "" {
		if err := checkRefBinding(vc.commit, ref); err != nil {
			return nil, fmt.Errorf("pull %s: %w", p.o.Remote, err)
		}
	}
	// The remote's .commitmeta is fetched even for a stored commit: new
	// signatures may have been added.
	vc.meta, err = p.f.get(ctx, repo.ArchiveObjectPath(c, repo.ObjCommitMeta), maxMetadataFetch)
	if errors.Is(err, ErrMissing) {
		vc.meta = nil
	} else if err != nil {
		return nil, err
	}
	detached := vc.meta
	if detached == nil && vc.stored {
		if detached, err = p.r.ReadMetadata(c, repo.ObjCommitMeta); errors.Is(err, repo.ErrNotFound) {
			detached = nil
		} else if err != nil {
			return nil, err
		}
	}
	if err := p.v.verifyCommit(c, vc.data, detached); err != nil {
		return nil, err
	}
	return vc, nil
}

// commitState reports whether the repository has commit c, and whether
// it is complete there: not marked partial, and no resumed transaction
// that may hold part of its tree.
func (p *puller) commitState(c repo.Checksum) (stored, complete bool, err error) {
	if stored, err = p.r.HasObject(c, repo.ObjCommit); err != nil || !stored {
		return stored, false, err
	}
	partial, err := p.r.IsPartial(c)
	if err != nil {
		return true, false, err
	}
	return true, !partial && !p.tx.Reused(), nil
}

// commitObject returns the commit object's bytes, read from the
// repository when stored, else fetched (at most size bytes; 0: the
// metadata bound) and checked against c. A parent missing on the server is errPruned.
func (p *puller) commitObject(ctx context.Context, c repo.Checksum, size int64, stored, parent bool) ([]byte, error) {
	if stored {
		return p.r.ReadMetadata(c, repo.ObjCommit)
	}
	if data, ok := p.takeLocalMeta(c); ok {
		return data, nil // from a delta's superblock, checked against c
	}
	if data, err := p.metaFromCache(c, repo.ObjCommit); data != nil || err != nil {
		return data, err
	}
	if size <= 0 {
		size = maxMetadataFetch
	}
	path := repo.ArchiveObjectPath(c, repo.ObjCommit)
	data, err := p.fc.getChecked(ctx, path, size, func(data []byte) error {
		_, err := repo.CheckMetadata(repo.ObjCommit, data, &c)
		return err
	})
	if err != nil {
		if parent && errors.Is(err, ErrMissing) {
			return nil, errPruned
		}
		return nil, err
	}
	return data, nil
}

// stageCommit stages a verified commit: it marks it partial first, so
// that its objects are never published looking like a complete commit,
// then stages the commit object and the remote's detached metadata unless
// the repository has them already.
func (p *puller) stageCommit(vc *verifiedCommit) error {
	c := vc.c
	if !vc.complete {
		if err := p.tx.MarkPartial(c); err != nil {
			return err
		}
	}
	if !vc.stored {
		p.metaFetched.Add(1)
		if _, err := p.tx.WriteMetadata(repo.ObjCommit, vc.data, &c); err != nil {
			return fmt.Errorf("pull %s: %s: %w", p.o.Remote, p.fc.url(repo.ArchiveObjectPath(c, repo.ObjCommit)), err)
		}
	}
	meta := vc.meta
	if meta == nil {
		return nil
	}
	p.metaFetched.Add(1)
	if vc.stored {
		// Unchanged since the last pull: nothing to stage, rename and fsync.
		if local, err := p.r.ReadMetadata(c, repo.ObjCommitMeta); err == nil && bytes.Equal(local, meta) {
			return nil
		}
	}
	if _, err := p.tx.WriteMetadata(repo.ObjCommitMeta, meta, &c); err != nil {
		return fmt.Errorf("pull %s: %s: %w", p.o.Remote, p.f.url(repo.ArchiveObjectPath(c, repo.ObjCommitMeta)), err)
	}
	return nil
}

// errPruned: a parent commit pulled for --depth is not on the server. Only
// the commit object may be missing; a parent whose tree is incomplete on
// the server fails the pull like any other commit.
var errPruned = errors.New("parent commit pruned on the server")

// ErrRefBinding means a commit was served as a ref its ref binding does not
// name: a server (or someone in between) offering a commit made for
// another branch, a downgrade or sidegrade attack.
var ErrRefBinding = errors.New("ref binding mismatch")

// checkRefBinding checks, as ostree does, that a commit with an
// ostree.ref-binding list names ref; a commit without one passes.
func checkRefBinding(c *repo.Commit, ref string) error {
	for _, m := range c.Metadata {
		if m.Key != "ostree.ref-binding" {
			continue
		}
		v, err := m.Value.Value()
		if err != nil || m.Value.Type != "as" {
			return fmt.Errorf("commit %s: ostree.ref-binding of type %s: %w", c.Checksum, m.Value.Type, repo.ErrCorrupt)
		}
		var names []string
		for _, e := range v.Elems {
			if e.Str == ref {
				return nil
			}
			names = append(names, "‘"+e.Str+"’")
		}
		return &refBindingError{fmt.Sprintf("Commit %s: Commit has no requested ref ‘%s’ in ref binding metadata (%s)", c.Checksum, ref, strings.Join(names, ", "))}
	}
	return nil
}

// refBindingError words it as ostree does and matches ErrRefBinding.
type refBindingError struct{ msg string }

func (e *refBindingError) Error() string        { return e.msg }
func (e *refBindingError) Is(target error) bool { return target == ErrRefBinding }
