package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// DiffStats is what ostree diff --stats counts of two commits.
type DiffStats struct {
	ObjectsA, ObjectsB int   // objects reachable from each commit (not its parents)
	Common             int   // objects reachable from both
	CommonSize         int64 // their size on disk
}

// CompareCommits counts the objects of commits a and b and those they
// share, as ostree diff --stats does. A commit that is not in the
// repository counts no objects; a partial one counts what is there.
func (r *Repo) CompareCommits(ctx context.Context, a, b Checksum) (*DiffStats, error) {
	ra, err := r.reachableFrom(ctx, a)
	if err != nil {
		return nil, err
	}
	rb, err := r.reachableFrom(ctx, b)
	if err != nil {
		return nil, err
	}
	s := &DiffStats{ObjectsA: len(ra), ObjectsB: len(rb)}
	for k := range ra {
		if _, ok := rb[k]; !ok {
			continue
		}
		s.Common++
		fi, err := os.Lstat(r.objectPath(k.c, k.t))
		if err != nil {
			return nil, fmt.Errorf("size of %s: %w", k, err)
		}
		s.CommonSize += fi.Size()
	}
	return s, nil
}

// reachableFrom is the set of objects of one commit: it, its dirtrees,
// dirmetas and content objects.
func (r *Repo) reachableFrom(ctx context.Context, c Checksum) (map[objKey]struct{}, error) {
	set := map[objKey]struct{}{}
	commit, err := r.ReadCommit(c)
	if errors.Is(err, ErrNotFound) {
		return set, nil
	}
	if err != nil {
		return nil, err
	}
	partial, err := r.IsPartial(c)
	if err != nil {
		return nil, err
	}
	set[objKey{c, ObjCommit}] = struct{}{}
	set[objKey{commit.RootMeta, ObjDirMeta}] = struct{}{}
	var walk func(tree Checksum) error
	walk = func(tree Checksum) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := objKey{tree, ObjDirTree}
		if _, seen := set[k]; seen {
			return nil
		}
		t, err := r.ReadDirTree(tree)
		if partial && errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		set[k] = struct{}{}
		for _, f := range t.Files {
			set[objKey{f.Content, ObjFile}] = struct{}{}
		}
		for _, d := range t.Dirs {
			set[objKey{d.Meta, ObjDirMeta}] = struct{}{}
			if err := walk(d.Tree); err != nil {
				return err
			}
		}
		return nil
	}
	return set, walk(commit.RootTree)
}
