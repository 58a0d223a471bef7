package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MirrorRef is a ref mirrored from another repository's collection, kept
// under refs/mirrors/COLLECTION-ID/ (ostree writes them there when it pulls
// with collection IDs, or for `ostree refs --collections --create`).
type MirrorRef struct {
	Collection string // reverse-DNS collection ID, "org.example.Os"
	Name       string
	Checksum   Checksum
}

// ValidateCollectionID checks a collection ID against OSTree's grammar:
// at least two elements separated by ".", each of [A-Za-z0-9_] and not
// starting with a digit, 255 bytes at most (a D-Bus interface name, which
// is what ostree checks: no "-").
func ValidateCollectionID(id string) error {
	elems := strings.Split(id, ".")
	if len(id) > 255 || len(elems) < 2 {
		return fmt.Errorf("Invalid collection ID %s", id)
	}
	for _, e := range elems {
		if e == "" || (e[0] >= '0' && e[0] <= '9') {
			return fmt.Errorf("Invalid collection ID %s", id)
		}
		for _, c := range []byte(e) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
				return fmt.Errorf("Invalid collection ID %s", id)
			}
		}
	}
	return nil
}

// ListMirrorRefs lists every ref under refs/mirrors/, sorted by collection
// then name. Directories that are not valid collection IDs are skipped, as
// ostree skips them.
func (r *Repo) ListMirrorRefs() ([]MirrorRef, error) {
	dir := filepath.Join(r.path, "refs", "mirrors")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list mirrored refs: %w", err)
	}
	var out []MirrorRef
	for _, e := range ents {
		if !e.IsDir() || ValidateCollectionID(e.Name()) != nil {
			continue
		}
		// A collection's directory is laid out like refs/heads.
		err := walkRefTree(filepath.Join(dir, e.Name()), "", func(name string, c Checksum) {
			out = append(out, MirrorRef{Collection: e.Name(), Name: name, Checksum: c})
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Collection != out[j].Collection {
			return out[i].Collection < out[j].Collection
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
