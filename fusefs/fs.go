package fusefs

import (
	"io"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/repofs/repofs/repo"
)

// Options tunes a mount.
type Options struct {
	// Logger receives errors the FUSE caller only sees as an errno, and
	// the watcher's events. Default: discard.
	Logger *slog.Logger
	// CacheDir holds the inflated copies of large archive files, as
	// unlinked temporary files. Default: os.TempDir(). Never the
	// repository's tmp/.
	CacheDir string
	// CacheBytes bounds the inflated archive files kept for reuse
	// (default 1 GiB); MemoryBytes bounds the small ones kept in memory
	// (default 32 MiB).
	CacheBytes, MemoryBytes int64
	// RefPoll is the period of the safety-net look at refs/ that
	// complements change notifications (repo.WatchOptions.Poll; default
	// 2s).
	RefPoll time.Duration

	// noReadAhead keeps the directories of refs/ unread until the kernel
	// asks for each (tests of the lazy tree).
	noReadAhead bool
	// noFill keeps the mount from reading all of refs/ once it serves
	// (tests of the read-ahead alone).
	noFill bool
}

const (
	rootIno    = 1
	refsIno    = 2
	commitsIno = 3

	// immutable is how long the kernel may cache anything under commits/.
	immutable = time.Hour
	// mutable is how long it may cache refs/ entries without being told;
	// the watcher invalidates them explicitly within milliseconds anyway.
	mutable = time.Second
)

// FS is the file system of one repository.
type FS struct {
	r       *repo.Repo
	o       Options
	log     *slog.Logger
	mounted time.Time

	root *rootNode
	refs *refsState
	// commitsIdx lists commits/.
	commitsIdx commitsState
	descend    *descender
	read       reader // the mode's, chosen in New

	mu      sync.Mutex
	commits map[repo.Checksum]*commitInfo // complete commits seen so far
	stats   *objectCache[*repo.FileInfo]
	trees   *objectCache[*repo.DirTree]
	metas   *objectCache[*repo.DirMeta]
}

// commitInfo is what every node of a commit's tree needs from its commit.
type commitInfo struct {
	c      repo.Checksum
	commit *repo.Commit
}

// New returns the file system of r; MountRepo mounts one and keeps its
// refs/ current.
func New(r *repo.Repo, o Options) *FS {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = 1 << 30
	}
	if o.MemoryBytes == 0 {
		o.MemoryBytes = 32 << 20
	}
	f := &FS{r: r, o: o, log: o.Logger, mounted: time.Now(),
		commits: map[repo.Checksum]*commitInfo{},
		stats:   newObjectCache[*repo.FileInfo](1 << 16),
		trees:   newObjectCache[*repo.DirTree](1 << 12),
		metas:   newObjectCache[*repo.DirMeta](1 << 10)}
	f.descend = newDescender(f)
	f.read = newReader(f)
	f.refs = newRefsState(f)
	f.commitsIdx.idx = r.NewCommitIndex()
	f.root = &rootNode{fs: f}
	return f
}

// Root is the root node to mount.
func (f *FS) Root() fs.InodeEmbedder { return f.root }

// commit returns a complete commit, or ENOENT for one that is missing or
// still partial (a pull is writing it).
func (f *FS) commit(c repo.Checksum) (*commitInfo, syscall.Errno) {
	f.mu.Lock()
	ci := f.commits[c]
	f.mu.Unlock()
	if ci != nil {
		return ci, 0
	}
	partial, err := f.r.IsPartial(c)
	if err != nil {
		return nil, f.errno("commit "+c.String(), err)
	}
	if partial {
		return nil, syscall.ENOENT
	}
	commit, err := f.r.ReadCommit(c)
	if err != nil {
		return nil, f.errno("read commit", err)
	}
	ci = &commitInfo{c: c, commit: commit}
	f.mu.Lock()
	if old := f.commits[c]; old != nil {
		ci = old
	} else {
		f.commits[c] = ci
	}
	f.mu.Unlock()
	return ci, 0
}

// stat returns a content object's metadata, cached: readdir and the
// lookups of readdirplus ask for the same objects in quick succession.
func (f *FS) stat(c repo.Checksum) (*repo.FileInfo, error) {
	return f.stats.getOrRead(c, f.r.StatFile)
}

// dirTree returns a dirtree object, cached: a listing's readdirplus reads
// the trees of its subdirectories ahead (see warm), then looks them up.
func (f *FS) dirTree(c repo.Checksum) (*repo.DirTree, error) {
	return f.trees.getOrRead(c, f.r.ReadDirTree)
}

// dirMeta returns a dirmeta object, cached: a tree has few distinct ones.
func (f *FS) dirMeta(c repo.Checksum) (*repo.DirMeta, error) {
	return f.metas.getOrRead(c, f.r.ReadDirMeta)
}

// ino derives a stable inode number from its parts. Files of one commit
// with the same content share one (they are the same bytes, and their
// attributes are equal); directories are keyed by their path, so never do.
func ino(parts ...string) uint64 {
	// FNV-1a of the parts, each followed by a NUL, as hash/fnv would
	// compute it without allocating: this runs for every lookup.
	const offset, prime = 14695981039346656037, 1099511628211
	v := uint64(offset)
	for _, p := range parts {
		for i := range len(p) {
			v = (v ^ uint64(p[i])) * prime
		}
		v *= prime // the NUL
	}
	if v <= commitsIno {
		v += commitsIno + 1
	}
	return v
}

func setTime(a *fuse.Attr, t time.Time) {
	s, ns := uint64(t.Unix()), uint32(t.Nanosecond())
	a.Mtime, a.Mtimensec = s, ns
	a.Ctime, a.Ctimensec = s, ns
	a.Atime, a.Atimensec = s, ns
}

// objectCache keeps what was decoded from objects, by checksum. Objects
// never change, so entries never go stale; a full cache starts over, which
// costs a re-read, never a wrong answer.
type objectCache[V any] struct {
	mu  sync.Mutex
	max int
	m   map[repo.Checksum]V
}

func newObjectCache[V any](max int) *objectCache[V] {
	return &objectCache[V]{max: max, m: map[repo.Checksum]V{}}
}

func (s *objectCache[V]) get(c repo.Checksum) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[c]
	return v, ok
}

// getOrRead returns the cached value of c, or reads and caches it; errors
// are not cached.
func (s *objectCache[V]) getOrRead(c repo.Checksum, read func(repo.Checksum) (V, error)) (V, error) {
	if v, ok := s.get(c); ok {
		return v, nil
	}
	v, err := read(c)
	if err == nil {
		s.put(c, v)
	}
	return v, err
}

func (s *objectCache[V]) put(c repo.Checksum, v V) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		clear(s.m)
	}
	s.m[c] = v
}
