package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/repofs/repofs/repo"
)

// commitFilter is ostree commit's --statoverride and --skip-list: mode
// bits added to ("+MODE PATH") or set on ("=MODE PATH") entries, MODE in
// decimal as ostree reads it, and entries left out, each PATH from the
// tree's root ("/usr/bin/su"). Every PATH of --skip-list, and every "+"
// line of --statoverride, must match an entry.
type commitFilter struct {
	mu              sync.Mutex
	adds, overrides map[string]uint32
	skip            map[string]bool
}

// loadCommitFilter reads the files of --statoverride and --skip-list; nil
// when neither is given.
func loadCommitFilter(statoverride, skipList string) (*commitFilter, error) {
	if statoverride == "" && skipList == "" {
		return nil, nil
	}
	cf := &commitFilter{adds: map[string]uint32{}, overrides: map[string]uint32{}, skip: map[string]bool{}}
	if statoverride != "" {
		lines, err := fileLines(statoverride)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			spec, path, ok := strings.Cut(l, " ")
			if !ok {
				return nil, errors.New("Malformed statoverride file (no space found)")
			}
			if v, ok := strings.CutPrefix(spec, "="); ok {
				cf.overrides[path] = decimalMode(v)
			} else {
				cf.adds[path] = decimalMode(spec)
			}
		}
	}
	if skipList != "" {
		lines, err := fileLines(skipList)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			cf.skip[l] = true
		}
	}
	return cf, nil
}

// fileLines returns the non-empty lines of a file.
func fileLines(p string) ([]string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for l := range strings.SplitSeq(string(data), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// decimalMode reads a mode as g_ascii_strtod does (a decimal number, 0 if
// there is none), truncated to 32 bits.
func decimalMode(s string) uint32 {
	end := 0
	for end < len(s) && strings.IndexByte("+-0123456789.eE", s[end]) >= 0 {
		end++
	}
	for ; end > 0; end-- {
		if f, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return uint32(int32(f))
		}
	}
	return 0
}

// apply is the repo.DirOptions.Filter.
func (cf *commitFilter) apply(path string, fi *repo.FileInfo) bool {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if v, ok := cf.adds[path]; ok {
		fi.Mode |= v
		delete(cf.adds, path)
	} else if v, ok := cf.overrides[path]; ok {
		fi.Mode = fi.Mode&0o170000 | v
	}
	if cf.skip[path] {
		delete(cf.skip, path)
		return false
	}
	return true
}

// unmatched reports, as ostree does, the statoverride and skip-list paths
// that matched no entry.
func (cf *commitFilter) unmatched(stderr io.Writer) error {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	for _, l := range []struct {
		m    map[string]bool
		what string
	}{{keysOf(cf.adds), "statoverride"}, {cf.skip, "skip-list"}} {
		if len(l.m) == 0 {
			continue
		}
		paths := make([]string, 0, len(l.m))
		for p := range l.m {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			fmt.Fprintf(stderr, "Unmatched %s path: %s\n", l.what, p)
		}
		return fmt.Errorf("Unmatched %s paths", l.what)
	}
	return nil
}

func keysOf(m map[string]uint32) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
