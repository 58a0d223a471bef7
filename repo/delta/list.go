package delta

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/repofs/repofs/repo"
)

// fromMB64 decodes a checksum in modified base64.
func fromMB64(s string) (repo.Checksum, bool) {
	var c repo.Checksum
	b, err := base64.RawStdEncoding.DecodeString(strings.ReplaceAll(s, "_", "/"))
	if err != nil || len(b) != len(c) {
		return c, false
	}
	copy(c[:], b)
	return c, true
}

// List returns the deltas of the repository: each deltas/XX/REST
// directory holding a superblock, sorted by name.
func List(r *repo.Repo) ([]Name, error) {
	top := filepath.Join(r.Path(), "deltas")
	ents, err := os.ReadDir(top)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list static deltas: %w", err)
	}
	var out []Name
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		subs, err := os.ReadDir(filepath.Join(top, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("list static deltas: %w", err)
		}
		for _, s := range subs {
			if !s.IsDir() {
				continue
			}
			if _, err := os.Stat(filepath.Join(top, e.Name(), s.Name(), "superblock")); err != nil {
				continue
			}
			var n Name
			var ok bool
			full := e.Name() + s.Name()
			if from, to, dash := strings.Cut(full, "-"); dash {
				n.From, ok = fromMB64(from)
				if ok {
					n.To, ok = fromMB64(to)
				}
			} else {
				n.To, ok = fromMB64(full)
				n.Scratch = true
			}
			if ok && n.Dir() == filepath.Join("deltas", e.Name(), s.Name()) {
				out = append(out, n)
			}
		}
	}
	sortNames(out)
	return out, nil
}

// ErrNoDelta means the repository has no such delta.
var ErrNoDelta = errors.New("no such static delta")

// Delete removes the delta's directory.
func Delete(r *repo.Repo, n Name) error {
	dir := filepath.Join(r.Path(), n.Dir())
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete static delta: can't find delta %s: %w", n, ErrNoDelta)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete static delta %s: %w", n, err)
	}
	return nil
}

// ReadSuperblockFile reads a superblock file (signed or not) and decodes
// the superblock, returning the signatures when it is signed.
func ReadSuperblockFile(path string) (*Superblock, Signatures, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	var sigs Signatures
	raw := data
	if IsSigned(data) {
		if raw, sigs, err = DecodeSigned(data); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	sb, err := DecodeSuperblock(raw)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return sb, sigs, raw, nil
}
