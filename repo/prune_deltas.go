package repo

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// deltaDir is a static delta found under deltas/.
type deltaDir struct {
	from string // hex checksum, "" for a delta from nothing
	to   string
	path string
}

// mbase64 is ostree's "modified base64" of a checksum in delta paths:
// unpadded standard base64 with '/' replaced by '_'.
func mbase64ToHex(s string) (string, bool) {
	b, err := base64.RawStdEncoding.DecodeString(strings.ReplaceAll(s, "_", "/"))
	if err != nil || len(b) != 32 {
		return "", false
	}
	return Checksum(b).String(), true
}

// listStaticDeltas lists deltas/XX/REST directories that hold a
// superblock, as ostree_repo_list_static_delta_names does.
func (r *Repo) listStaticDeltas() ([]deltaDir, error) {
	top := filepath.Join(r.path, "deltas")
	ents, err := os.ReadDir(top)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []deltaDir
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		subs, err := os.ReadDir(filepath.Join(top, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			p := filepath.Join(top, e.Name(), s.Name())
			if !s.IsDir() {
				continue
			}
			if _, err := os.Stat(filepath.Join(p, "superblock")); err != nil {
				continue
			}
			name := e.Name() + s.Name()
			d := deltaDir{path: p}
			var ok bool
			if from, to, dash := strings.Cut(name, "-"); dash {
				d.from, ok = mbase64ToHex(from)
				if ok {
					d.to, ok = mbase64ToHex(to)
				}
			} else {
				d.to, ok = mbase64ToHex(name)
			}
			if ok {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// pruneStaticDeltas deletes the static deltas to commit or, when commit is
// "", those whose target commit is not in the repository.
func (r *Repo) pruneStaticDeltas(commit string) error {
	deltas, err := r.listStaticDeltas()
	if err != nil {
		return fmt.Errorf("prune static deltas: %w", err)
	}
	for _, d := range deltas {
		if commit != "" {
			if d.to != commit {
				continue
			}
		} else if c, err := ParseChecksum(d.to); err == nil {
			if ok, err := r.HasObject(c, ObjCommit); err != nil || ok {
				continue
			}
		}
		if err := os.RemoveAll(d.path); err != nil {
			return fmt.Errorf("prune static delta %s: %w", d.path, err)
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
