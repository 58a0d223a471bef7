package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
)

// FsckOptions controls Fsck.
type FsckOptions struct {
	// Delete removes corrupted objects and marks the commits that need them
	// partial, so that the next pull fetches them again.
	Delete bool
	// Progress, when set, is called as objects are verified.
	Progress func(done, total int)
}

// FsckProblem is one corrupted or missing object.
type FsckProblem struct {
	Object  string     // "<checksum>.<ext>"
	Err     error      // wraps ErrCorrupt or ErrNotFound, and names the object
	Commits []Checksum // the commits that reach it, sorted
}

// FsckReport is what Fsck found.
type FsckReport struct {
	Refs          int
	Commits       int        // complete commits whose trees were verified
	Partial       []Checksum // commits marked partial, not verified
	Objects       int        // objects verified
	Problems      []FsckProblem
	Deleted       []string   // with Delete: objects removed
	MarkedPartial []Checksum // with Delete: commits marked partial
}

type objKey struct {
	c Checksum
	t ObjectType
}

func (k objKey) String() string { return k.c.String() + "." + k.t.Ext() }

// Fsck re-hashes every object reachable from every commit in the repository
// and checks that every ref points to a commit that is present.
func (r *Repo) Fsck(ctx context.Context, o FsckOptions) (*FsckReport, error) {
	rep := &FsckReport{}
	bad := map[objKey]*FsckProblem{}
	note := func(k objKey, err error, commit Checksum) {
		p := bad[k]
		if p == nil {
			p = &FsckProblem{Object: k.String(), Err: err}
			bad[k] = p
		}
		if !slices.Contains(p.Commits, commit) {
			p.Commits = append(p.Commits, commit)
		}
	}

	refs, err := r.ListRefs("", false)
	if err != nil {
		return nil, fmt.Errorf("fsck: %w", err)
	}
	rep.Refs = len(refs)
	commits, err := r.listObjects(ObjCommit)
	if err != nil {
		return nil, fmt.Errorf("fsck: %w", err)
	}
	have := map[Checksum]bool{}
	for _, c := range commits {
		have[c] = true
	}
	for _, ref := range refs {
		if !have[ref.Checksum] {
			note(objKey{ref.Checksum, ObjCommit}, fmt.Errorf("ref %s points to a missing commit: %w", ref, missing(ref.Checksum, ObjCommit)), ref.Checksum)
		}
	}

	// Walk each complete commit's metadata, gathering content objects.
	seen := map[objKey]error{}
	content := map[Checksum][]Checksum{} // content object -> commits
	for _, c := range commits {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		commit, err := r.ReadCommit(c)
		if err != nil {
			note(objKey{c, ObjCommit}, err, c)
			continue
		}
		if partial, err := r.IsPartial(c); err != nil {
			return nil, fmt.Errorf("fsck: %w", err)
		} else if partial {
			rep.Partial = append(rep.Partial, c)
			continue
		}
		rep.Commits++
		r.fsckTree(commit, seen, content, note)
	}
	rep.Objects = len(seen)

	rec := r.fsckRecord()
	if err := r.fsckContent(ctx, content, rec, o.Progress, note, rep); err != nil {
		return nil, err
	}
	if rec != nil {
		// The objects that hashed right, for the next checkout.
		if err := rec.save(ctx); err != nil {
			return rep, fmt.Errorf("fsck: %w", err)
		}
	}
	for _, p := range bad {
		sort.Slice(p.Commits, func(i, j int) bool { return p.Commits[i].String() < p.Commits[j].String() })
		rep.Problems = append(rep.Problems, *p)
	}
	sort.Slice(rep.Problems, func(i, j int) bool { return rep.Problems[i].Object < rep.Problems[j].Object })
	// A corrupt object the verified-objects record vouches for (its
	// bytes changed, its mtime did not) must be hashed again by the
	// next checkout, --delete or not.
	var corrupt []Checksum
	for k, p := range bad {
		if k.t == ObjFile && !errors.Is(p.Err, ErrNotFound) {
			corrupt = append(corrupt, k.c)
		}
	}
	if len(corrupt) > 0 {
		if err := r.ForgetVerified(ctx, corrupt, false); err != nil {
			return rep, fmt.Errorf("fsck: %w", err)
		}
	}
	if o.Delete {
		if err := r.fsckRepair(bad, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// fsckTree verifies the dirtree and dirmeta objects of a commit, recording
// results in seen and the content objects it reaches in content.
func (r *Repo) fsckTree(commit *Commit, seen map[objKey]error, content map[Checksum][]Checksum, note func(objKey, error, Checksum)) {
	check := func(k objKey, read func() error) bool {
		err, done := seen[k]
		if !done {
			err = read()
			seen[k] = err
		}
		if err != nil {
			note(k, err, commit.Checksum)
		}
		return err == nil
	}
	type dir struct{ tree, meta Checksum }
	queue := []dir{{commit.RootTree, commit.RootMeta}}
	visited := map[Checksum]bool{}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		check(objKey{d.meta, ObjDirMeta}, func() error { _, err := r.ReadDirMeta(d.meta); return err })
		if visited[d.tree] {
			continue
		}
		visited[d.tree] = true
		var t *DirTree
		if !check(objKey{d.tree, ObjDirTree}, func() (err error) { t, err = r.ReadDirTree(d.tree); return err }) {
			continue
		}
		if t == nil { // verified for an earlier commit; read it again to walk it
			var err error
			if t, err = r.ReadDirTree(d.tree); err != nil {
				continue
			}
		}
		for _, f := range t.Files {
			content[f.Content] = append(content[f.Content], commit.Checksum)
		}
		for _, sd := range t.Dirs {
			queue = append(queue, dir{sd.Tree, sd.Meta})
		}
	}
}

// fsckContent verifies content objects in parallel: hashing is CPU-bound.
func (r *Repo) fsckContent(ctx context.Context, content map[Checksum][]Checksum, rec *verifiedRecord, progress func(int, int), note func(objKey, error, Checksum), rep *FsckReport) error {
	jobs := make(chan Checksum)
	type result struct {
		c   Checksum
		err error
	}
	results := make(chan result)
	var wg sync.WaitGroup
	for range max(2, runtime.NumCPU()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				results <- result{c, r.verifyRecording(rec, c)}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for c := range content {
			select {
			case jobs <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	done := 0
	for res := range results {
		done++
		if res.err != nil {
			for _, commit := range content[res.c] {
				note(objKey{res.c, ObjFile}, res.err, commit)
			}
		}
		if progress != nil {
			progress(done, len(content))
		}
	}
	rep.Objects += done
	return ctx.Err()
}

// verifyContent reads a content object to its end, which checks its hash.
func (r *Repo) verifyContent(c Checksum) error {
	_, rc, err := r.OpenFile(c)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

// fsckRepair deletes corrupted objects and marks the commits that reach a
// bad or missing object partial, as `ostree fsck --delete` does.
func (r *Repo) fsckRepair(bad map[objKey]*FsckProblem, rep *FsckReport) error {
	marked := map[Checksum]bool{}
	for k, p := range bad {
		if !errors.Is(p.Err, ErrNotFound) {
			if err := os.Remove(r.objectPath(k.c, k.t)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("fsck: delete %s: %w", k, err)
			}
			rep.Deleted = append(rep.Deleted, k.String())
		}
		for _, c := range p.Commits {
			if k.t == ObjCommit && k.c == c {
				continue // the commit itself is gone
			}
			marked[c] = true
		}
	}
	if err := os.MkdirAll(filepath.Join(r.path, "state"), 0o775); err != nil {
		return fmt.Errorf("fsck: %w", err)
	}
	for c := range marked {
		if err := os.WriteFile(r.partialPath(c), []byte("f"), 0o644); err != nil {
			return fmt.Errorf("fsck: mark %s partial: %w", c, err)
		}
		rep.MarkedPartial = append(rep.MarkedPartial, c)
	}
	sort.Strings(rep.Deleted)
	sort.Slice(rep.MarkedPartial, func(i, j int) bool { return rep.MarkedPartial[i].String() < rep.MarkedPartial[j].String() })
	return nil
}

// listObjects lists the objects of one type present in objects/.
func (r *Repo) listObjects(t ObjectType) ([]Checksum, error) {
	suffix := "." + t.Ext()
	dirs, err := os.ReadDir(filepath.Join(r.path, "objects"))
	if err != nil {
		return nil, err
	}
	var out []Checksum
	for _, d := range dirs {
		if len(d.Name()) != 2 || !d.IsDir() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(r.path, "objects", d.Name()))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			name, ok := strings.CutSuffix(e.Name(), suffix)
			if !ok {
				continue
			}
			if c, err := ParseChecksum(d.Name() + name); err == nil {
				out = append(out, c)
			}
		}
	}
	return out, nil
}
