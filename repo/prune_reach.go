package repo

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// reachSet is the set of objects a prune keeps, with, for each commit, the
// most parents below it any root asked to keep.
type reachSet struct {
	objects map[objKey]struct{}
	depth   map[Checksum]int
}

// unlimited is depth -1: every ancestor.
const unlimited = math.MaxInt

func normDepth(d int) int {
	switch {
	case d == -1:
		return unlimited
	case d < 0:
		return 0 // ostree walks parents only for -1 or a positive depth
	}
	return d
}

// reach computes what the options keep. It runs under the exclusive lock.
//
// ostree stops walking a history at the first commit it has already
// reached, so with overlapping refs its result depends on hash-table
// order; repofs keeps, for every root, its commit and Depth parents
// whatever the order, which is the largest of ostree's possible results.
func (p *pruner) reach(ctx context.Context) error {
	p.keep = reachSet{objects: map[objKey]struct{}{}, depth: map[Checksum]int{}}
	o := p.o
	if !o.selective() {
		if o.RefsOnly {
			return p.reachRefs(ctx, o.Depth, true)
		}
		commits, err := p.r.listObjects(ObjCommit)
		if err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		for _, c := range commits {
			if err := p.commit(ctx, c, o.Depth); err != nil {
				return err
			}
		}
		return nil
	}
	refs, err := p.r.ListRefs("", false)
	if err != nil {
		return err
	}
	retain := map[string]int{}
	for k, v := range o.RetainBranchDepth {
		retain[k] = v
	}
	if len(o.OnlyBranches) > 0 {
		only := map[string]bool{}
		for _, b := range o.OnlyBranches {
			if _, err := p.r.ResolveRev(b); err != nil {
				return err
			}
			only[b] = true
		}
		for _, ref := range refs {
			if _, ok := retain[ref.String()]; !ok && !only[ref.String()] {
				retain[ref.String()] = -1
			}
		}
	}
	for _, ref := range refs {
		// ostree stores depths as hash-table pointers, so a depth of 0
		// reads back as "none given": the ref gets the global treatment.
		if d := retain[ref.String()]; d != 0 {
			err = p.commit(ctx, ref.Checksum, d)
		} else if !o.KeepYoungerThan.IsZero() {
			err = p.keepYoungerThan(ctx, ref.Checksum)
		} else {
			err = p.commit(ctx, ref.Checksum, o.Depth)
		}
		if err != nil {
			return err
		}
	}
	if o.KeepMirrorRefs {
		return p.reachMirrorRefs(ctx, -1)
	}
	return nil
}

// reachMirrorRefs keeps what every ref under refs/mirrors reaches to depth.
func (p *pruner) reachMirrorRefs(ctx context.Context, depth int) error {
	mrefs, err := p.r.ListMirrorRefs()
	if err != nil {
		return err
	}
	for _, ref := range mrefs {
		if err := p.commit(ctx, ref.Checksum, depth); err != nil {
			return err
		}
	}
	return nil
}

// reachRefs keeps what every ref reaches to depth; with mirrors, the refs
// of refs/mirrors too (ostree's collection refs).
func (p *pruner) reachRefs(ctx context.Context, depth int, mirrors bool) error {
	refs, err := p.r.ListRefs("", false)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if err := p.commit(ctx, ref.Checksum, depth); err != nil {
			return err
		}
	}
	if !mirrors {
		return nil
	}
	return p.reachMirrorRefs(ctx, depth)
}

// keepYoungerThan keeps a ref's commit and then each parent while it is
// not older than the limit, as ostree's traverse_keep_younger_than does.
func (p *pruner) keepYoungerThan(ctx context.Context, c Checksum) error {
	if err := p.commit(ctx, c, 0); err != nil {
		return err
	}
	for {
		commit, err := p.r.ReadCommit(c)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if commit.Timestamp.Unix() < p.o.KeepYoungerThan.Unix() {
			return nil
		}
		if err := p.commit(ctx, c, 0); err != nil {
			return err
		}
		if !commit.HasParent {
			return nil
		}
		c = commit.Parent
	}
}

// commit keeps commit c, its tree, and depth generations of its parents.
// A commit that is missing ends the walk (repositories are often
// shallow); a partial commit's missing directories are skipped.
func (p *pruner) commit(ctx context.Context, c Checksum, depth int) error {
	depth = normDepth(depth)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d, ok := p.keep.depth[c]; ok && d >= depth {
			return nil
		}
		commit, err := p.r.ReadCommit(c)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		_, seen := p.keep.depth[c]
		p.keep.depth[c] = depth
		if !seen {
			p.keep.objects[objKey{c, ObjCommit}] = struct{}{}
			if !p.o.CommitOnly {
				if err := p.tree(c, commit); err != nil {
					return err
				}
			}
		}
		if depth == 0 || !commit.HasParent {
			return nil
		}
		if depth != unlimited {
			depth--
		}
		c = commit.Parent
	}
}

// tree keeps every object of a commit's tree.
func (p *pruner) tree(c Checksum, commit *Commit) error {
	partial, err := p.r.IsPartial(c)
	if err != nil {
		return err
	}
	// ostree keeps the root dirmeta only once the root dirtree loaded.
	root, err := p.r.ReadDirTree(commit.RootTree)
	if err != nil {
		if partial && errors.Is(err, ErrNotFound) {
			return nil
		}
		return fmt.Errorf("prune: commit %s: %w", c, err)
	}
	p.keep.objects[objKey{commit.RootMeta, ObjDirMeta}] = struct{}{}
	p.keep.objects[objKey{commit.RootTree, ObjDirTree}] = struct{}{}
	return p.dirtree(c, root, partial)
}

func (p *pruner) dirtree(c Checksum, t *DirTree, partial bool) error {
	keep := p.keep.objects
	for _, f := range t.Files {
		keep[objKey{f.Content, ObjFile}] = struct{}{}
	}
	for _, d := range t.Dirs {
		keep[objKey{d.Meta, ObjDirMeta}] = struct{}{}
		k := objKey{d.Tree, ObjDirTree}
		if _, ok := keep[k]; ok {
			continue
		}
		sub, err := p.r.ReadDirTree(d.Tree)
		if err != nil {
			if partial && errors.Is(err, ErrNotFound) {
				keep[k] = struct{}{}
				continue
			}
			return fmt.Errorf("prune: commit %s: %w", c, err)
		}
		if err := p.dirtree(c, sub, partial); err != nil {
			return err
		}
		keep[k] = struct{}{}
	}
	return nil
}
