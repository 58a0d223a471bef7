package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ResolveRev resolves what a user typed to a commit checksum, as
// ostree_repo_resolve_rev does: a full checksum is taken as is; a unique
// hex prefix of a commit object; REV^ for a parent (repeatable); a local
// ref; remote:ref; and, for a local name, refs/remotes/<name> and then the
// same ref under every remote.
func (r *Repo) ResolveRev(rev string) (Checksum, error) {
	if IsChecksum(rev) {
		return ParseChecksum(rev)
	}
	if c, ok, err := r.resolvePartial(rev); err != nil || ok {
		return c, err
	}
	if base, ok := strings.CutSuffix(rev, "^"); ok {
		c, err := r.ResolveRev(base)
		if err != nil {
			return c, err
		}
		commit, err := r.ReadCommit(c)
		if err != nil {
			return c, err
		}
		if !commit.HasParent {
			return c, notFoundf("Commit %s has no parent", c)
		}
		return commit.Parent, nil
	}
	remote, ref, err := ParseRefspec(rev)
	if err != nil {
		return Checksum{}, err
	}
	c, err := r.ReadRef(remote, ref)
	if remote != "" || !errors.Is(err, ErrNotFound) {
		return c, err
	}
	// "origin/main" may name refs/remotes/origin/main.
	if c2, err2 := readRefFile(filepath.Join(r.path, "refs", "remotes", filepath.FromSlash(ref))); err2 == nil {
		return c2, nil
	}
	remotes, lerr := r.listDir(filepath.Join(r.path, "refs", "remotes"))
	if lerr != nil {
		return c, lerr
	}
	for _, rem := range remotes {
		if c2, err2 := r.ReadRef(rem, ref); err2 == nil {
			return c2, nil
		}
	}
	return c, err
}

// resolvePartial matches a hex prefix shorter than a checksum against the
// commit objects present.
func (r *Repo) resolvePartial(prefix string) (Checksum, bool, error) {
	if prefix == "" || len(prefix) >= 64 {
		return Checksum{}, false, nil
	}
	for i := 0; i < len(prefix); i++ {
		if !isLowerHex(prefix[i]) {
			return Checksum{}, false, nil
		}
	}
	var found []string
	dirs, err := os.ReadDir(filepath.Join(r.path, "objects"))
	if err != nil {
		return Checksum{}, false, fmt.Errorf("list commit objects: %w", err)
	}
	for _, d := range dirs {
		dn := d.Name()
		if len(dn) != 2 || !strings.HasPrefix(dn, prefix[:min(2, len(prefix))]) {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(r.path, "objects", dn))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Checksum{}, false, fmt.Errorf("list commit objects: %w", err)
		}
		for _, e := range ents {
			name, ok := strings.CutSuffix(e.Name(), ".commit")
			if ok && strings.HasPrefix(dn+name, prefix) && IsChecksum(dn+name) {
				found = append(found, dn+name)
			}
		}
	}
	switch len(found) {
	case 0:
		return Checksum{}, false, nil
	case 1:
		c, err := ParseChecksum(found[0])
		return c, true, err
	}
	return Checksum{}, false, fmt.Errorf("Refspec %s not unique", prefix)
}
