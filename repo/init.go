package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Init creates a repository of the given mode at path, laid out as
// `ostree init` does: config first, objects/ last, so that a repository
// exists exactly when objects/ does.
func Init(path string, mode Mode) (*Repo, error) { return InitCollection(path, mode, "") }

// InitCollection is Init for a repository with a collection ID (none when
// id is empty), recorded as core.collection-id as ostree init
// --collection-id does.
func InitCollection(path string, mode Mode, id string) (*Repo, error) {
	if id != "" {
		if err := ValidateCollectionID(id); err != nil {
			return nil, err
		}
	}
	if mode == ModeBareSplitXattrs {
		return nil, fmt.Errorf("init %s: mode bare-split-xattrs is not supported", path)
	}
	if _, err := os.Stat(filepath.Join(path, "objects")); err == nil {
		return nil, fmt.Errorf("init %s: a repository already exists there", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	// Like ostree init, create the repository's directory but not its
	// parents: a missing parent is more likely a typo than a wish.
	if err := os.Mkdir(path, 0o775); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("init %s: the parent directory %s does not exist; create it first: %w", path, filepath.Dir(filepath.Clean(path)), err)
	} else if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	cfg := &Config{Groups: []ConfigGroup{{Name: "core", Keys: []ConfigKey{
		{"repo_version", "1"}, {"mode", mode.String()},
	}}}}
	if id != "" {
		cfg.Set("core", "collection-id", id)
	}
	if err := WriteFileAtomic(filepath.Join(path, "config"), cfg.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	for _, d := range []string{"tmp", "extensions", "state", "refs", "refs/heads", "refs/mirrors", "refs/remotes", "objects"} {
		if err := os.Mkdir(filepath.Join(path, d), 0o775); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("init %s: %w", path, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(path, "tmp", "cache"), 0o775); err != nil {
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	return Open(path)
}
