package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
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

// CommitIndex keeps the list of complete commits of a repository current
// at the cost of a stat of each objects/XX directory and of state/ per
// Refresh: only a directory whose change time moved since it was last read
// is read again. A new commit object, a pruned one (by repofs or ostree)
// and a .commitpartial made or removed all change their directory's times.
// Its methods may be called from several goroutines.
type CommitIndex struct {
	r *Repo

	mu   sync.Mutex
	dirs [256]indexedDir
	// state is state/: its stamp and the partial commits in it.
	state    dirStamp
	partial  map[Checksum]struct{}
	complete []Checksum // sorted
	read     bool       // complete was computed once
}

type indexedDir struct {
	stamp   dirStamp
	commits []Checksum // sorted
}

// dirStamp is what tells that a directory's entries may have changed: a
// directory moved or made again has another inode; an entry added,
// removed or renamed sets its modification and change times.
type dirStamp struct {
	ino          uint64
	mtime, ctime unix.Timespec
	ok           bool
}

// racyWindow is how recent a directory's times may be for its listing to
// be read again next time: file systems stamp times at the kernel's clock
// tick, so a change in the same tick as the listing leaves them as they
// were.
const racyWindow = 100 * time.Millisecond

// NewCommitIndex returns an index of the complete commits of r; the first
// Refresh reads all of objects/.
func (r *Repo) NewCommitIndex() *CommitIndex { return &CommitIndex{r: r} }

func statDir(p string, now time.Time) (dirStamp, bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return dirStamp{}, false, nil
		}
		return dirStamp{}, false, err
	}
	s := dirStamp{ino: st.Ino, mtime: st.Mtim, ctime: st.Ctim, ok: true}
	// Trust the stamp only once the clock has moved past it.
	newest := max(time.Unix(st.Mtim.Unix()).UnixNano(), time.Unix(st.Ctim.Unix()).UnixNano())
	if now.UnixNano()-newest < int64(racyWindow) {
		s.ok = false
	}
	return s, true, nil
}

// Refresh brings the index up to date with the disk and returns the
// complete commits that appeared and that went since the previous
// Refresh (none the first time).
func (x *CommitIndex) Refresh() (added, removed []Checksum, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	now := time.Now()
	changed := false
	for i := range x.dirs {
		d := &x.dirs[i]
		name := fmt.Sprintf("%02x", i)
		p := filepath.Join(x.r.objects, name)
		s, exists, err := statDir(p, now)
		if err != nil {
			return nil, nil, fmt.Errorf("list commits: %w", err)
		}
		if !exists {
			if len(d.commits) > 0 {
				changed = true
			}
			*d = indexedDir{}
			continue
		}
		if d.stamp.ok && d.stamp == s {
			continue
		}
		cs, err := readCommitNames(p, name)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Equal(cs, d.commits) {
			changed = true
		}
		d.stamp, d.commits = s, cs
	}
	statePath := filepath.Join(x.r.path, "state")
	s, _, err := statDir(statePath, now)
	if err != nil {
		return nil, nil, fmt.Errorf("list partial commits: %w", err)
	}
	if !x.state.ok || x.state != s {
		partial, err := x.r.partialCommits()
		if err != nil {
			return nil, nil, err
		}
		if !maps.Equal(partial, x.partial) {
			changed = true
		}
		x.state, x.partial = s, partial
	}
	if x.read && !changed {
		return nil, nil, nil
	}
	var complete []Checksum
	for i := range x.dirs {
		for _, c := range x.dirs[i].commits {
			if _, p := x.partial[c]; !p {
				complete = append(complete, c)
			}
		}
	}
	if x.read {
		added, removed = diffSorted(x.complete, complete)
	}
	x.complete, x.read = complete, true
	return added, removed, nil
}

// Commits returns the complete commits as the last Refresh saw them,
// sorted; the caller must not modify the slice.
func (x *CommitIndex) Commits() []Checksum {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.complete
}

// Contains tells whether the last Refresh saw c complete.
func (x *CommitIndex) Contains(c Checksum) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := slices.BinarySearchFunc(x.complete, c, compareChecksums)
	return ok
}

func compareChecksums(a, b Checksum) int { return bytes.Compare(a[:], b[:]) }

// readCommitNames lists the commit objects in the objects/ directory p,
// whose name is the checksums' first byte in hex, sorted.
func readCommitNames(p, prefix string) ([]Checksum, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list commits: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list commits in %s: %w", p, err)
	}
	var out []Checksum
	for _, n := range names {
		if s, ok := strings.CutSuffix(n, "."+ObjCommit.Ext()); ok {
			if c, err := ParseChecksum(prefix + s); err == nil {
				out = append(out, c)
			}
		}
	}
	slices.SortFunc(out, compareChecksums)
	return out, nil
}

// diffSorted returns what is in b and not in a, and what is in a and not
// in b; both are sorted.
func diffSorted(a, b []Checksum) (added, removed []Checksum) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && compareChecksums(a[i], b[j]) < 0:
			removed = append(removed, a[i])
			i++
		case i == len(a) || compareChecksums(a[i], b[j]) > 0:
			added = append(added, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return added, removed
}
