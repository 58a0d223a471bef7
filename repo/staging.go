package repo

import (
	"io"
	"os"
	"path/filepath"
	"strings"
)

// verifyStaged checks every object a reused staging directory holds, as
// Invariant 4 demands: a reused directory is evidence, not truth. Objects
// that fail are removed and will be written again; so are temporary files
// of interrupted writes. It returns the objects kept.
func (tx *Transaction) verifyStaged() ([]stagedKey, error) {
	dirs, err := os.ReadDir(tx.staging.Path)
	if err != nil {
		return nil, err
	}
	var kept []stagedKey
	for _, d := range dirs {
		p := filepath.Join(tx.staging.Path, d.Name())
		if !d.IsDir() || len(d.Name()) != 2 {
			os.RemoveAll(p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			op := filepath.Join(p, e.Name())
			if k, ok := tx.stagedObjectValid(d.Name(), e.Name(), op); ok {
				kept = append(kept, k)
			} else if err := os.RemoveAll(op); err != nil {
				return nil, err
			}
		}
	}
	return kept, nil
}

func (tx *Transaction) stagedObjectValid(dir, name, p string) (stagedKey, bool) {
	base, ext, ok := strings.Cut(name, ".")
	if !ok {
		return stagedKey{}, false
	}
	c, err := ParseChecksum(dir + base)
	if err != nil {
		return stagedKey{}, false
	}
	var t ObjectType
	for _, cand := range []ObjectType{ObjFile, ObjDirTree, ObjDirMeta, ObjCommit, ObjTombstone, ObjCommitMeta} {
		if tx.r.ext(cand) == ext {
			t = cand
		}
	}
	k := stagedKey{c, t}
	switch t {
	case 0, ObjCommitMeta:
		// Detached metadata is the one mutable object: published by a
		// replacing rename, a stale staged copy would overwrite a newer
		// one. Whoever staged it fetches or signs again.
		return k, false
	case ObjFile:
		_, rc, err := tx.r.openContentAt(p, c, true)
		if err != nil {
			return k, false
		}
		defer rc.Close()
		_, err = io.Copy(io.Discard, rc)
		return k, err == nil
	default:
		data, err := readMetadataAt(p, c, t)
		return k, err == nil && validateMetadata(c, t, data) == nil
	}
}
