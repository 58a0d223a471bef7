package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// pruneStaticDeltas deletes the static deltas to commit or, when commit is
// "", those whose target commit is not in the repository.
func (r *Repo) pruneStaticDeltas(commit string) error {
	deltas, err := r.StaticDeltasDirOrder()
	if err != nil {
		return fmt.Errorf("prune static deltas: %w", err)
	}
	for _, d := range deltas {
		if commit != "" {
			if d.To.String() != commit {
				continue
			}
		} else if ok, err := r.HasObject(d.To, ObjCommit); err != nil || ok {
			continue
		}
		p := filepath.Join(r.path, d.dir())
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("prune static delta %s: %w", p, err)
		}
	}
	return nil
}

// pruneSummaryCache removes cached summaries of remotes that are no longer
// configured, as ostree's prune does.
func (r *Repo) pruneSummaryCache() error {
	dir := filepath.Join(r.path, "tmp", "cache", "summaries")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("prune summary cache: %w", err)
	}
	for _, e := range ents {
		remote := strings.TrimSuffix(e.Name(), ".sig")
		if r.config.HasGroup(`remote "` + remote + `"`) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("prune summary cache: %w", err)
		}
	}
	return nil
}
