package delta

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
)

// Defaults of `ostree static-delta generate`, in bytes (ostree counts its
// megabytes as 1000×1000 bytes).
const (
	DefaultMinFallbackSize = 4 * 1000 * 1000
	DefaultMaxChunkSize    = 32 * 1000 * 1000
	DefaultMaxBsdiffSize   = 128 * 1000 * 1000
)

// similarity is how far, in percent, the size of a modified file may be
// from the size of the file it is diffed against (ostree's
// CONTENT_SIZE_SIMILARITY_THRESHOLD_PERCENT).
const similarity = 30

// GenerateOptions describe a delta to generate, with the meaning of
// `ostree static-delta generate`'s options.
type GenerateOptions struct {
	// Name: From (unless Scratch) to To.
	Name Name
	// Inline puts the parts in the superblock: a delta of one file.
	Inline bool
	// MinFallbackSize: regular files of more bytes than this are left to
	// be fetched on their own (fallbacks); 0 disables fallbacks.
	MinFallbackSize uint64
	// MaxChunkSize is the size a part grows to before another is begun.
	MaxChunkSize uint64
	// MaxBsdiffSize: a modified file is diffed against its older version
	// only when both together are at most this many bytes.
	MaxBsdiffSize uint64
	// DisableBsdiff sends modified files whole.
	DisableBsdiff bool
	// BsdiffOnly sends every modified file that is diffed as a bsdiff
	// patch, even one that write ops copying its old version would carry
	// in fewer bytes (as ostree's rollsum does).
	BsdiffOnly bool
	// Now is the superblock's timestamp (zero: the current time).
	Now time.Time
	// Sign, when set, signs the superblock's bytes, returning the
	// signatures' metadata key (such as ostree.sign.ed25519) and the
	// signatures; the superblock file is then the signed wrapper.
	Sign func(superblock []byte) (key string, sigs [][]byte, err error)
	// Workers is how many objects are read, diffed and parts compressed at
	// once (0: one per CPU).
	Workers int
	// Dir, when set, is where the delta's files go instead of the
	// repository's deltas/ directory: the superblock, named
	// SuperblockName (default "superblock"), and the parts "0", "1", ….
	// Files already there are replaced, others left.
	Dir            string
	SuperblockName string
	// BigEndian writes the part headers' and fallbacks' sizes in
	// big-endian order, with ostree.endianness 'B' (ostree's
	// --set-endianness=B, or --swap-endianness on a little-endian host);
	// the default is little-endian, 'l'.
	BigEndian bool
}

// Generated tells what Generate wrote.
type Generated struct {
	Name Name
	// Superblock is the superblock file's bytes (signed or not).
	Superblock []byte
	Parts      []PartHeader
	Fallbacks  []Fallback
	// Modified counts the new files found to be modified versions of
	// files of From, Bsdiff those sent as patches against them, and Copied
	// those sent as stretches of them (CopiedBytes their sizes).
	Modified, Bsdiff, Copied int
	CopiedBytes              uint64
	// NewMetadata, NewFiles and NewSymlinks count the objects To has and
	// From has not (To's commit object excepted).
	NewMetadata, NewFiles, NewSymlinks int
	// FallbackStreamSizes are the fallbacks' content stream sizes (see
	// streamSize), which ostree prints for them.
	FallbackStreamSizes []uint64
	// Loose is what the objects the parts carry whole (not as patches)
	// take in the repository, as ostree's "loose=" figure counts them.
	Loose uint64
}

// item is one object of a part being planned.
type item struct {
	obj   Object
	meta  []byte         // metadata object bytes
	fi    *repo.FileInfo // content
	from  repo.Checksum  // bsdiff or copy source
	patch []byte         // bsdiff patch
	// copies, when set, is the new file as stretches of from instead of
	// a patch.
	copies []copyOp
	diff   bool
}

// size is what the item adds to its part's blob.
func (it *item) size() uint64 {
	switch {
	case it.meta != nil:
		return uint64(len(it.meta))
	case it.copies != nil:
		n := uint64(32)
		for _, c := range it.copies {
			n += uint64(len(c.lit))
		}
		return n
	case it.diff:
		return uint64(len(it.patch)) + 32
	case it.fi.IsSymlink():
		return uint64(len(it.fi.Target))
	}
	return it.fi.Size
}

// Generate computes the delta o.Name in repository r, writes its parts
// and then its superblock (into o.Dir, or the repository), and returns
// what it wrote. It follows ostree's choices: every object To reaches and
// From does not (To's commit travels in the superblock); metadata first,
// then modified files as bsdiff patches against the file of From with
// the same name and a similar size, then the other regular files (those
// over MinFallbackSize become fallbacks), then symlinks; a new part when
// one would exceed MaxChunkSize; parts xz-compressed. Objects are read
// verified; the work runs on o.Workers goroutines.
func Generate(ctx context.Context, r *repo.Repo, o GenerateOptions) (*Generated, error) {
	if o.MaxChunkSize == 0 {
		o.MaxChunkSize = DefaultMaxChunkSize
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	g := &generator{r: r, o: &o, seen: map[Object]bool{}, old: map[Object]bool{}}
	out := &Generated{Name: o.Name}
	commit, err := r.ReadMetadata(o.Name.To, repo.ObjCommit)
	if err != nil {
		return nil, fmt.Errorf("generate delta %s: %w", o.Name, err)
	}
	if !o.Name.Scratch {
		if err := g.walkFrom(ctx); err != nil {
			return nil, fmt.Errorf("generate delta %s: from-commit: %w", o.Name, err)
		}
	}
	if err := g.walkTo(ctx); err != nil {
		return nil, fmt.Errorf("generate delta %s: to-commit: %w", o.Name, err)
	}
	if err := g.statNew(ctx); err != nil {
		return nil, fmt.Errorf("generate delta %s: %w", o.Name, err)
	}
	if err := g.findModified(ctx); err != nil {
		return nil, fmt.Errorf("generate delta %s: %w", o.Name, err)
	}
	items, err := g.plan(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("generate delta %s: %w", o.Name, err)
	}
	parts := g.split(items)
	dir := o.Dir
	if dir == "" {
		dir = filepath.Join(r.Path(), o.Name.Dir())
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("generate delta %s: remove the old one: %w", o.Name, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("generate delta %s: %w", o.Name, err)
	}
	files, err := g.buildParts(ctx, parts, dir)
	if err != nil {
		return nil, fmt.Errorf("generate delta %s: %w", o.Name, err)
	}
	for _, f := range files {
		out.Loose += f.loose
	}
	endian := byte('l')
	if o.BigEndian {
		endian = 'B'
	}
	sb := &Superblock{
		Metadata:  gvariant.Metadata{{Key: "ostree.endianness", Value: gvariant.Variant{Type: "y", Data: []byte{endian}}}},
		Timestamp: uint64(o.Now.Unix()),
		Name:      o.Name,
		Commit:    commit,
		Fallbacks: out.Fallbacks,
		Swapped:   o.BigEndian,
	}
	for i, f := range files {
		sb.Parts = append(sb.Parts, f.header)
		if o.Inline {
			sb.Metadata = append(sb.Metadata, gvariant.Entry{Key: o.Name.PartPath(i), Value: gvariant.Variant{Type: "(yay)", Data: f.data}})
		}
	}
	out.Parts = sb.Parts
	switch meta, err := r.ReadMetadata(o.Name.To, repo.ObjCommitMeta); {
	case err == nil:
		sb.Metadata = append(sb.Metadata, gvariant.Entry{Key: o.Name.commitMetaKey(), Value: gvariant.Variant{Type: "a{sv}", Data: meta}})
	case !errors.Is(err, repo.ErrNotFound):
		return nil, fmt.Errorf("generate delta %s: %w", o.Name, err)
	}
	data, err := EncodeSuperblock(sb)
	if err != nil {
		return nil, fmt.Errorf("generate delta %s: superblock: %w", o.Name, err)
	}
	if o.Sign != nil {
		if data, err = signSuperblock(data, o.Sign); err != nil {
			return nil, fmt.Errorf("generate delta %s: sign: %w", o.Name, err)
		}
	}
	name := o.SuperblockName
	if name == "" {
		name = "superblock"
	}
	if err := repo.WriteFileAtomic(filepath.Join(dir, name), data, 0o644); err != nil {
		return nil, fmt.Errorf("generate delta %s: %w", o.Name, err)
	}
	out.Superblock = data
	return out, nil
}

// signSuperblock wraps a superblock in the signed format (taya{sv}).
func signSuperblock(data []byte, sign func([]byte) (string, [][]byte, error)) ([]byte, error) {
	key, sigs, err := sign(data)
	if err != nil {
		return nil, err
	}
	aay := gvariant.Value{Type: "aay"}
	for _, s := range sigs {
		aay.Elems = append(aay.Elems, gvariant.Value{Type: "ay", Bytes: s})
	}
	md := gvariant.EncodeMetadata(gvariant.Metadata{{Key: key, Value: gvariant.Variant{Type: "aay", Data: gvariant.Encode(aay)}}})
	mdv, err := gvariant.Decode("a{sv}", md)
	if err != nil {
		return nil, err
	}
	return gvariant.Encode(gvariant.Value{Type: signedType, Elems: []gvariant.Value{
		{Type: "t", Num: bits.ReverseBytes64(signedMagic)},
		{Type: "ay", Bytes: data},
		mdv,
	}}), nil
}

type generator struct {
	r    *repo.Repo
	o    *GenerateOptions
	old  map[Object]bool // everything From reaches
	seen map[Object]bool // everything To reaches
	// oldFiles: From's files by basename; newNames: basenames of To's new
	// content objects.
	oldFiles map[string][]repo.Checksum
	newMeta  []item
	newFiles []repo.Checksum
	newNames map[repo.Checksum][]string
	info     map[repo.Checksum]*repo.FileInfo
	modified map[repo.Checksum]repo.Checksum  // new file → old file
	oldInfo  map[repo.Checksum]*repo.FileInfo // of the old files modified ones pair with
}

func (g *generator) walkFrom(ctx context.Context) error {
	g.oldFiles = map[string][]repo.Checksum{}
	c, err := g.r.ReadCommit(g.o.Name.From)
	if err != nil {
		return err
	}
	g.old[Object{repo.ObjCommit, g.o.Name.From}] = true
	g.old[Object{repo.ObjDirMeta, c.RootMeta}] = true
	return g.walk(ctx, c.RootTree, func(name string, f repo.Checksum) {
		o := Object{repo.ObjFile, f}
		if !g.old[o] {
			g.old[o] = true
		}
		if !slices.Contains(g.oldFiles[name], f) {
			g.oldFiles[name] = append(g.oldFiles[name], f)
		}
	}, g.old, nil)
}

func (g *generator) walkTo(ctx context.Context) error {
	g.newNames = map[repo.Checksum][]string{}
	c, err := g.r.ReadCommit(g.o.Name.To)
	if err != nil {
		return err
	}
	if err := g.addMeta(Object{repo.ObjDirMeta, c.RootMeta}); err != nil {
		return err
	}
	return g.walk(ctx, c.RootTree, func(name string, f repo.Checksum) {
		o := Object{repo.ObjFile, f}
		if g.old[o] {
			return
		}
		if !g.seen[o] {
			g.seen[o] = true
			g.newFiles = append(g.newFiles, f)
		}
		if !slices.Contains(g.newNames[f], name) {
			g.newNames[f] = append(g.newNames[f], name)
		}
	}, g.seen, g.addMeta)
}

// addMeta records a metadata object of To, unless From has it.
func (g *generator) addMeta(o Object) error {
	if g.old[o] || g.seen[o] {
		return nil
	}
	g.seen[o] = true
	data, err := g.r.ReadMetadata(o.Checksum, o.Type)
	if err != nil {
		return err
	}
	g.newMeta = append(g.newMeta, item{obj: o, meta: data})
	return nil
}

// walk visits the tree: file calls for every file entry; a dirtree
// already in seen is not entered again (a dirtree From has holds only
// objects From has). meta, when set, is called for each dirtree and
// dirmeta first seen.
func (g *generator) walk(ctx context.Context, tree repo.Checksum, file func(name string, c repo.Checksum), seen map[Object]bool, meta func(Object) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	to := Object{repo.ObjDirTree, tree}
	if meta != nil {
		if g.old[to] || seen[to] {
			return nil
		}
		if err := meta(to); err != nil {
			return err
		}
	} else {
		if seen[to] {
			return nil
		}
		seen[to] = true
	}
	var t *repo.DirTree
	if meta != nil {
		data := g.newMeta[len(g.newMeta)-1].meta
		var err error
		if t, err = repo.DecodeDirTree(tree, data); err != nil {
			return err
		}
	} else {
		var err error
		if t, err = g.r.ReadDirTree(tree); err != nil {
			return err
		}
	}
	for _, f := range t.Files {
		file(f.Name, f.Content)
	}
	for _, d := range t.Dirs {
		dm := Object{repo.ObjDirMeta, d.Meta}
		if meta != nil {
			if err := meta(dm); err != nil {
				return err
			}
		} else {
			seen[dm] = true
		}
		if err := g.walk(ctx, d.Tree, file, seen, meta); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs fn(i) for i in [0,n) on the generator's workers, stopping
// at the first error.
func (g *generator) parallel(ctx context.Context, n int, fn func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(g.o.Workers, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// statNew reads the file info of every new content object.
func (g *generator) statNew(ctx context.Context) error {
	infos := make([]*repo.FileInfo, len(g.newFiles))
	err := g.parallel(ctx, len(g.newFiles), func(i int) error {
		fi, err := g.r.StatFile(g.newFiles[i])
		infos[i] = fi
		return err
	})
	if err != nil {
		return err
	}
	g.info = make(map[repo.Checksum]*repo.FileInfo, len(infos))
	for i, c := range g.newFiles {
		g.info[c] = infos[i]
	}
	return nil
}

// candidate reports whether a file may be diffed: not empty, and not
// named as compressed data (.xz, .bz2) that diffs badly.
func candidate(size uint64, names []string) bool {
	if size == 0 {
		return false
	}
	for _, n := range names {
		if ext := filepath.Ext(n); ext == ".xz" || ext == ".bz2" {
			return false
		}
	}
	return true
}

// stem is a name up to its first dot, ostree's fuzzy match ("libfoo.so.1"
// and "libfoo.so.2"), or "" when it has no dot.
func stem(name string) string {
	i := strings.IndexByte(name, '.')
	if i <= 0 {
		return ""
	}
	return name[:i]
}

// findModified pairs new regular files with a file of From of the same
// name (or, failing any, the same name up to the first dot) and a size
// within 30%, as ostree does: of those, the smallest (ostree walks From's
// files in size order; among equal sizes it keeps its hash table's order,
// repofs the checksums'). Whether the old file may be diffed against
// (world-readable, small enough) is decided later: a pair counts as
// modified either way, as in ostree's "modified:" line.
func (g *generator) findModified(ctx context.Context) error {
	g.modified = map[repo.Checksum]repo.Checksum{}
	g.oldInfo = map[repo.Checksum]*repo.FileInfo{}
	if g.o.Name.Scratch {
		return nil
	}
	// Only From's files named like a new file are looked at.
	byStem := map[string][]string{}
	for name := range g.oldFiles {
		if s := stem(name); s != "" {
			byStem[s] = append(byStem[s], name)
		}
	}
	want := map[repo.Checksum]bool{}
	var olds []repo.Checksum
	add := func(cs []repo.Checksum) {
		for _, c := range cs {
			if !want[c] {
				want[c] = true
				olds = append(olds, c)
			}
		}
	}
	for _, c := range g.newFiles {
		fi := g.info[c]
		if fi.IsSymlink() || !candidate(fi.Size, g.newNames[c]) {
			continue
		}
		for _, n := range g.newNames[c] {
			add(g.oldFiles[n])
			for _, m := range byStem[stem(n)] {
				add(g.oldFiles[m])
			}
		}
	}
	oldInfo := make([]*repo.FileInfo, len(olds))
	if err := g.parallel(ctx, len(olds), func(i int) error {
		fi, err := g.r.StatFile(olds[i])
		oldInfo[i] = fi
		return err
	}); err != nil {
		return err
	}
	infoOf := make(map[repo.Checksum]*repo.FileInfo, len(olds))
	for i, c := range olds {
		infoOf[c] = oldInfo[i]
	}
	oldNames := map[repo.Checksum][]string{}
	for name, cs := range g.oldFiles {
		for _, c := range cs {
			if want[c] {
				oldNames[c] = append(oldNames[c], name)
			}
		}
	}
	thr := float64(similarity) / 100
	for _, c := range g.newFiles {
		fi := g.info[c]
		if fi.IsSymlink() || !candidate(fi.Size, g.newNames[c]) {
			continue
		}
		// ostree's bounds, in floating point as it computes them.
		lo, hi := uint64(float64(fi.Size)*(1-thr)), uint64(float64(fi.Size)*(1+thr))
		var best repo.Checksum
		var bestSize uint64
		found := false
		for _, fuzzy := range []bool{false, true} {
			for _, n := range g.newNames[c] {
				names := []string{n}
				if fuzzy {
					names = byStem[stem(n)]
				}
				for _, m := range names {
					for _, oc := range g.oldFiles[m] {
						ofi := infoOf[oc]
						if ofi == nil || ofi.IsSymlink() || ofi.Size < lo || ofi.Size > hi || !candidate(ofi.Size, oldNames[oc]) {
							continue
						}
						// ostree takes the first in size order.
						if !found || ofi.Size < bestSize || ofi.Size == bestSize && string(oc[:]) < string(best[:]) {
							best, bestSize, found = oc, ofi.Size, true
						}
					}
				}
			}
			if found {
				break
			}
		}
		if found {
			g.modified[c] = best
			g.oldInfo[best] = infoOf[best]
		}
	}
	return nil
}

// plan orders the delta's objects as ostree does and computes the bsdiff
// patches; it fills out's counts and fallbacks.
func (g *generator) plan(ctx context.Context, out *Generated) ([]item, error) {
	items := slices.Clone(g.newMeta)
	out.NewMetadata = len(g.newMeta)
	out.Modified = len(g.modified)
	var diffs []item
	if !g.o.DisableBsdiff {
		for _, c := range g.newFiles {
			from, ok := g.modified[c]
			// Like ostree, only a world-readable old file is diffed
			// against (a client may not be able to read others).
			if !ok || g.oldInfo[from].Mode&0o004 == 0 {
				continue
			}
			fi := g.info[c]
			// The old file's size was checked to be within 30%.
			if g.o.MaxBsdiffSize > 0 && fi.Size+fi.Size*(100+similarity)/100 > g.o.MaxBsdiffSize {
				if ofi, err := g.r.StatFile(from); err != nil || ofi.Size+fi.Size > g.o.MaxBsdiffSize {
					continue
				}
			}
			diffs = append(diffs, item{obj: Object{repo.ObjFile, c}, fi: fi, from: from, diff: true})
		}
	}
	if err := g.parallel(ctx, len(diffs), func(i int) error {
		d := &diffs[i]
		ofi, err := g.r.StatFile(d.from)
		if err != nil {
			return err
		}
		old := make([]byte, ofi.Size)
		if _, err := g.r.ReadFileInto(d.from, old); err != nil {
			return err
		}
		cur := make([]byte, d.fi.Size)
		if _, err := g.r.ReadFileInto(d.obj.Checksum, cur); err != nil {
			return err
		}
		if !g.o.BsdiffOnly {
			if ops, ok := makeCopies(old, cur); ok {
				d.copies = ops
				return nil
			}
		}
		d.patch = makePatch(old, cur)
		return nil
	}); err != nil {
		return nil, err
	}
	items = append(items, diffs...)
	for _, d := range diffs {
		if d.copies != nil {
			out.Copied++
			out.CopiedBytes += d.fi.Size
		} else {
			out.Bsdiff++
		}
	}
	diffed := map[repo.Checksum]bool{}
	for _, d := range diffs {
		diffed[d.obj.Checksum] = true
	}
	var links []item
	for _, c := range g.newFiles {
		fi := g.info[c]
		it := item{obj: Object{repo.ObjFile, c}, fi: fi}
		switch {
		case fi.IsSymlink():
			out.NewSymlinks++
			links = append(links, it)
			continue
		case diffed[c]:
		case g.o.MinFallbackSize > 0 && streamSize(fi) > g.o.MinFallbackSize:
			st, err := os.Stat(g.r.ObjectPath(c, repo.ObjFile))
			if err != nil {
				return nil, fmt.Errorf("fallback object %s: %w", c, err)
			}
			out.Fallbacks = append(out.Fallbacks, Fallback{Object: it.obj, Size: uint64(st.Size()), USize: fi.Size})
			out.FallbackStreamSizes = append(out.FallbackStreamSizes, streamSize(fi))
		default:
			items = append(items, it)
		}
		out.NewFiles++
	}
	return append(items, links...), nil
}

// streamSize is the length of a file's content stream (u32 header
// length, 4 bytes of padding, the (uuuusa(ayay)) header, the payload):
// ostree compares that, not the payload's size, with min-fallback-size.
func streamSize(fi *repo.FileInfo) uint64 {
	var xs []gvariant.Xattr
	for _, x := range fi.Xattrs {
		xs = append(xs, gvariant.Xattr{Name: append([]byte(x.Name), 0), Value: x.Value})
	}
	h := gvariant.EncodeFileHeader(gvariant.FileHeader{UID: fi.UID, GID: fi.GID, Mode: fi.Mode, Target: fi.Target, Xattrs: xs})
	return 8 + uint64(len(h)) + fi.Size
}

// split cuts the items into parts of about MaxChunkSize.
func (g *generator) split(items []item) [][]item {
	var parts [][]item
	var cur []item
	var est uint64
	for _, it := range items {
		add := it.size()
		if len(cur) > 0 && (it.diff && est > g.o.MaxChunkSize || !it.diff && est+add > g.o.MaxChunkSize) {
			parts = append(parts, cur)
			cur, est = nil, 0
		}
		cur = append(cur, it)
		est += add + 16 // with its opcodes
	}
	return append(parts, cur)
}

type partFile struct {
	header PartHeader
	data   []byte // the file, when inline
	loose  uint64 // storage size of the objects carried whole
}

// buildParts encodes, compresses and (unless inline) writes the parts.
func (g *generator) buildParts(ctx context.Context, parts [][]item, dir string) ([]partFile, error) {
	files := make([]partFile, len(parts))
	err := g.parallel(ctx, len(parts), func(i int) error {
		p, objs, usize, err := g.buildPart(parts[i])
		if err != nil {
			return fmt.Errorf("part %d: %w", i, err)
		}
		data, err := EncodePart(p, true)
		if err != nil {
			return fmt.Errorf("part %d: %w", i, err)
		}
		files[i].header = PartHeader{Checksum: sha256.Sum256(data), Size: uint64(len(data)), USize: usize, Objects: objs}
		files[i].loose = g.looseSize(parts[i])
		if g.o.Inline {
			files[i].data = data
			return nil
		}
		return repo.WriteFileAtomic(filepath.Join(dir, strconv.Itoa(i)), data, 0o644)
	})
	return files, err
}

// looseSize sums what the items carried whole take in the repository
// (ostree_repo_query_object_storage_size: the object file's size).
func (g *generator) looseSize(items []item) uint64 {
	var n uint64
	for _, it := range items {
		if it.diff {
			continue
		}
		if st, err := os.Lstat(g.r.ObjectPath(it.obj.Checksum, it.obj.Type)); err == nil {
			n += uint64(st.Size())
		} else {
			n += it.size() // an object of a parent repository
		}
	}
	return n
}

// buildPart reads a part's objects and writes its blob and bytecode.
func (g *generator) buildPart(items []item) (*Part, []Object, uint64, error) {
	p := &Part{}
	var objs []Object
	var usize uint64
	modes := map[Mode]uint64{}
	xattrs := map[string]uint64{}
	total := 0
	for _, it := range items {
		total += int(it.size())
	}
	p.Blob = make([]byte, 0, total)
	uv := func(vs ...uint64) {
		for _, v := range vs {
			p.Ops = binary.AppendUvarint(p.Ops, v)
		}
	}
	modeXattr := func(fi *repo.FileInfo) (uint64, uint64) {
		m := Mode{UID: fi.UID, GID: fi.GID, Mode: fi.Mode}
		mi, ok := modes[m]
		if !ok {
			mi = uint64(len(p.Modes))
			modes[m] = mi
			p.Modes = append(p.Modes, m)
		}
		var key strings.Builder
		for _, x := range fi.Xattrs {
			key.WriteString(strconv.Itoa(len(x.Name)) + ":" + x.Name + strconv.Itoa(len(x.Value)) + ":")
			key.Write(x.Value)
		}
		xi, ok := xattrs[key.String()]
		if !ok {
			xi = uint64(len(p.Xattrs))
			xattrs[key.String()] = xi
			p.Xattrs = append(p.Xattrs, fi.Xattrs)
		}
		return mi, xi
	}
	for _, it := range items {
		objs = append(objs, it.obj)
		off := uint64(len(p.Blob))
		switch {
		case it.meta != nil:
			p.Blob = append(p.Blob, it.meta...)
			p.Ops = append(p.Ops, opOpenSpliceAndClose)
			uv(uint64(len(it.meta)), off)
			usize += uint64(len(it.meta))
		case it.copies != nil:
			mi, xi := modeXattr(it.fi)
			p.Blob = append(p.Blob, it.from[:]...)
			p.Ops = append(p.Ops, opOpen)
			uv(mi, xi, it.fi.Size)
			src := false
			for _, c := range it.copies {
				if c.lit == nil {
					if !src {
						p.Ops = append(p.Ops, opSetReadSource)
						uv(off)
						src = true
					}
					p.Ops = append(p.Ops, opWrite)
					uv(uint64(c.n), uint64(c.off))
					continue
				}
				if src {
					p.Ops = append(p.Ops, opUnsetReadSource)
					src = false
				}
				p.Ops = append(p.Ops, opWrite)
				uv(uint64(len(c.lit)), uint64(len(p.Blob)))
				p.Blob = append(p.Blob, c.lit...)
			}
			p.Ops = append(p.Ops, opClose)
			usize += it.fi.Size
		case it.diff:
			mi, xi := modeXattr(it.fi)
			p.Blob = append(p.Blob, it.from[:]...)
			p.Ops = append(p.Ops, opSetReadSource)
			uv(off)
			p.Ops = append(p.Ops, opOpen)
			uv(mi, xi, it.fi.Size)
			p.Ops = append(p.Ops, opBspatch)
			uv(uint64(len(p.Blob)), uint64(len(it.patch)))
			p.Blob = append(p.Blob, it.patch...)
			p.Ops = append(p.Ops, opClose, opUnsetReadSource)
			usize += it.fi.Size
		case it.fi.IsSymlink():
			mi, xi := modeXattr(it.fi)
			p.Blob = append(p.Blob, it.fi.Target...)
			p.Ops = append(p.Ops, opOpenSpliceAndClose)
			uv(mi, xi, uint64(len(it.fi.Target)), off)
			usize += uint64(len(it.fi.Target))
		default:
			mi, xi := modeXattr(it.fi)
			p.Blob = append(p.Blob, make([]byte, it.fi.Size)...)
			if _, err := g.r.ReadFileInto(it.obj.Checksum, p.Blob[off:]); err != nil {
				return nil, nil, 0, err
			}
			p.Ops = append(p.Ops, opOpenSpliceAndClose)
			uv(mi, xi, it.fi.Size, off)
			usize += it.fi.Size
		}
	}
	return p, objs, usize, nil
}
