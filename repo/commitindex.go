package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CompleteCommits lists the commits that are present and complete (no
// state/<commit>.commitpartial), sorted: one read of objects/ and of
// state/, not a look at each commit's marker.
func (r *Repo) CompleteCommits() ([]Checksum, error) {
	cs, err := r.ListCommits()
	if err != nil {
		return nil, fmt.Errorf("list commits: %w", err)
	}
	partial, err := r.partialCommits()
	if err != nil {
		return nil, err
	}
	out := cs[:0]
	for _, c := range cs {
		if _, p := partial[c]; !p {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Checksum) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

// partialCommits returns the commits marked partial in state/.
func (r *Repo) partialCommits() (map[Checksum]struct{}, error) {
	f, err := os.Open(filepath.Join(r.path, "state"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list partial commits: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list partial commits: %w", err)
	}
	out := map[Checksum]struct{}{}
	for _, n := range names {
		if s, ok := strings.CutSuffix(n, ".commitpartial"); ok {
			if c, err := ParseChecksum(s); err == nil {
				out[c] = struct{}{}
			}
		}
	}
	return out, nil
}
