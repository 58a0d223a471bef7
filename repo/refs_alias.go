package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/repofs/repofs/tmpdir"
)

// A ref alias is a local ref that names another ref instead of a commit:
// refs/heads/NAME is a symbolic link, relative to its own directory
// ("../" for each "/" of NAME, then the target's name), as ostree's
// `refs --alias --create` writes it. Reading a ref follows the link, so an
// alias resolves to its target's commit everywhere a ref does; a loop of
// aliases reads as ErrAliasLoop.

// ErrAliasLoop is what reading a ref whose aliases form a loop fails with.
var ErrAliasLoop = errors.New("Too many levels of symbolic links")

// RefAlias is a local alias and the ref it names.
type RefAlias struct {
	Name, Target string
}

// aliasLoop is ostree's wording for a loop met while opening p (a path
// relative to the repository or to the refs directory listed).
func aliasLoop(p string) error { return fmt.Errorf("openat(%s): %w", p, ErrAliasLoop) }

// isLoop reports whether err is the kernel's ELOOP.
func isLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }

// aliasTarget is the ref a link target names, as ostree lists it: the
// leading "../" cut off.
func aliasTarget(link string) string {
	for strings.HasPrefix(link, "../") {
		link = link[3:]
	}
	return link
}

// ListRefAliases lists the aliases among the local refs, as `ostree refs
// --alias [PREFIX]` does: with no prefix every alias; with a prefix naming
// a directory of refs/heads the aliases below it (names kept whole); with
// one naming a ref, that ref whatever it is, its target then being the
// commit it resolves to. Sorted by name.
func (r *Repo) ListRefAliases(prefix string) ([]RefAlias, error) {
	heads := r.refsDir("")
	sub := ""
	if prefix != "" {
		if rem, ok := strings.CutSuffix(strings.TrimSuffix(prefix, "."), ":"); ok && ValidateRemoteName(rem) == nil {
			return nil, nil // every ref of a remote: none is an alias
		}
		remote, ref, err := ParseRefspec(prefix)
		if err != nil {
			return nil, fmt.Errorf("Listing refs: %w", err)
		}
		p := filepath.Join(r.refsDir(remote), filepath.FromSlash(ref))
		if remote != "" {
			// A remote ref itself is listed with its commit, as a
			// local one below; a directory of them holds no alias.
			c, err := readRefFile(p)
			if err != nil {
				return nil, nil
			}
			return []RefAlias{{prefix, c.String()}}, nil
		}
		st, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil
		case isLoop(err):
			return nil, fmt.Errorf("Listing refs: fstatat(refs/heads/%s): %w", ref, ErrAliasLoop)
		case err != nil:
			return nil, fmt.Errorf("Listing refs: %w", err)
		case !st.IsDir():
			c, err := readRefFile(p)
			if isLoop(err) {
				return nil, fmt.Errorf("Listing refs: %w", aliasLoop(ref))
			}
			if err != nil {
				return nil, fmt.Errorf("Listing refs: %w", err)
			}
			return []RefAlias{{ref, c.String()}}, nil
		}
		sub = ref
	}
	var out []RefAlias
	if err := walkAliases(filepath.Join(heads, filepath.FromSlash(sub)), sub, &out); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b RefAlias) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// walkAliases adds the symbolic links below dir, named prefix/PATH.
func walkAliases(dir, prefix string, out *[]RefAlias) error {
	return walkRefDirs(dir, prefix, "Listing refs", func(full, p string, e fs.DirEntry) error {
		if e.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		link, err := os.Readlink(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("Listing refs: %w", err)
		}
		*out = append(*out, RefAlias{full, aliasTarget(link)})
		return nil
	})
}

// IsRefAlias reports whether the local ref name is an alias.
func (r *Repo) IsRefAlias(name string) (bool, error) {
	st, err := os.Lstat(filepath.Join(r.refsDir(""), filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return st.Mode()&fs.ModeSymlink != 0, nil
}

// SetRefAliasImmediate makes the local ref name an alias of the ref
// target now, outside any transaction, replacing whatever name was, as
// `ostree refs --alias --create=NAME TARGET` does (which checks first that
// target is a ref). The link is made beside the ref and renamed into
// place.
func (r *Repo) SetRefAliasImmediate(ctx context.Context, name, target string) error {
	if err := ValidateRef(name); err != nil {
		return err
	}
	if err := ValidateRef(target); err != nil {
		return err
	}
	lock, err := r.lockRepo(ctx, tmpdir.Shared)
	if err != nil {
		return err
	}
	defer lock.Close()
	p := filepath.Join(r.refsDir(""), filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o775); err != nil {
		return fmt.Errorf("alias ref %s: %w", name, err)
	}
	link := strings.Repeat("../", strings.Count(name, "/")) + target
	// Beside the ref, as WriteFileAtomic does; the leading dot keeps it
	// out of ref listings.
	var tl string
	for i := 0; ; i++ {
		tl = filepath.Join(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-"+strconv.FormatUint(uint64(randomInt()), 36))
		err = os.Symlink(link, tl)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return fmt.Errorf("alias ref %s: %w", name, err)
		}
		break
	}
	if st, err := os.Lstat(p); err == nil && st.IsDir() {
		os.Remove(tl)
		return fmt.Errorf("alias ref %s: Conflict: refs exist under %s", name, name)
	}
	if err := os.Rename(tl, p); err != nil {
		os.Remove(tl)
		return fmt.Errorf("alias ref %s: %w", name, err)
	}
	if err := fsyncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("alias ref %s: %w", name, err)
	}
	r.touch()
	return nil
}
