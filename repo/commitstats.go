package repo

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/repofs/repofs/internal/zdeflate"
	"github.com/repofs/repofs/repo/gvariant"
)

// TransactionStats counts a transaction's objects as ostree's
// OstreeRepoTransactionStats does (what `ostree commit --table-output`
// prints): every metadata or content object handed to the transaction
// counts in its total, and in written when the repository did not hold it
// yet (an object staged twice, or already in objects/, is written once or
// not at all). Detached metadata does not count. ContentBytesWritten adds
// the payload sizes of the content objects written with WriteContent (a
// symlink's is 0; objects a pull stages whole add nothing).
type TransactionStats struct {
	MetadataTotal, MetadataWritten uint32
	ContentTotal, ContentWritten   uint32
	ContentBytesWritten            uint64
}

// txCounters are a transaction's TransactionStats as they grow, updated
// by its writers concurrently.
type txCounters struct {
	metaTotal, metaWritten       atomic.Uint32
	contentTotal, contentWritten atomic.Uint32
	contentBytes                 atomic.Uint64
}

// Stats returns the transaction's counts; once Commit returned they are
// final (an object found in objects/ only when published no longer counts
// as written).
func (tx *Transaction) Stats() TransactionStats {
	c := &tx.count
	return TransactionStats{
		MetadataTotal:       c.metaTotal.Load(),
		MetadataWritten:     c.metaWritten.Load(),
		ContentTotal:        c.contentTotal.Load(),
		ContentWritten:      c.contentWritten.Load(),
		ContentBytesWritten: c.contentBytes.Load(),
	}
}

// counted records that an object of type t was handed to the transaction;
// written: it was staged for the first time, payload the content's size.
func (c *txCounters) counted(t ObjectType, written bool, payload uint64) {
	switch t {
	case ObjCommitMeta:
	case ObjFile:
		c.contentTotal.Add(1)
		if written {
			c.contentWritten.Add(1)
			c.contentBytes.Add(payload)
		}
	default:
		c.metaTotal.Add(1)
		if written {
			c.metaWritten.Add(1)
		}
	}
}

// unwritten takes back an object counted as written that objects/ held
// already when it was published.
func (c *txCounters) unwritten(t ObjectType, payload uint64) {
	switch t {
	case ObjCommitMeta:
	case ObjFile:
		c.contentWritten.Add(^uint32(0))
		c.contentBytes.Add(-payload)
	default:
		c.metaWritten.Add(^uint32(0))
	}
}

// ObjectSize is one entry of a commit's ostree.sizes metadata: an object's
// size in the repository (a .filez whole, header included) and unpacked
// (a file's payload or a symlink's target; a metadata object's bytes).
type ObjectSize struct {
	Checksum           Checksum
	Type               ObjectType
	Archived, Unpacked uint64
}

// sizeRecorder collects the ObjectSizes of what a transaction is handed,
// first size of each checksum kept, as ostree's commit --generate-sizes
// does.
type sizeRecorder struct {
	mu    sync.Mutex
	sizes map[Checksum]ObjectSize
}

// RecordSizes makes the transaction remember the size of every file,
// dirtree and dirmeta object it is handed from now on (also those the
// repository holds already), for CommitSizes. ostree does this in archive
// repositories only; so does the caller. From then on the transaction
// compresses content as zlib does (at core levels 4 to 9, see
// internal/zdeflate), slower than its usual compressor but giving the
// archived sizes ostree records.
//
// Called again, it forgets the sizes recorded so far: ostree starts afresh
// for each tree it writes, so that with several --tree options only the
// objects of the last and the dirtrees of the whole are measured.
func (tx *Transaction) RecordSizes() {
	if s := tx.sizes.Load(); s != nil {
		s.mu.Lock()
		clear(s.sizes)
		s.mu.Unlock()
		return
	}
	tx.sizes.CompareAndSwap(nil, &sizeRecorder{sizes: make(map[Checksum]ObjectSize)})
}

// RecordsSizes reports whether RecordSizes was called.
func (tx *Transaction) RecordsSizes() bool { return tx.sizes.Load() != nil }

var zdeflatePool sync.Pool // of *zdeflate.Writer

// writeArchiveZlib writes a .filez as writeArchive does, its payload
// compressed byte for byte as zlib (and so ostree) compresses it; levels
// below 4 fall back to writeArchive.
func writeArchiveZlib(w io.Writer, fi *FileInfo, payload io.Reader, level int) error {
	if level < 4 || level > 9 || fi.IsSymlink() {
		return writeArchive(w, fi, payload, level)
	}
	if err := writeArchiveHeader(w, fi); err != nil {
		return err
	}
	zw, ok := zdeflatePool.Get().(*zdeflate.Writer)
	if ok {
		zw.Reset(w, level)
	} else {
		var err error
		if zw, err = zdeflate.NewWriter(w, level); err != nil {
			return err
		}
	}
	if err := copyExactly(zw, payload, fi.Size); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	zw.Reset(nil, level)
	zdeflatePool.Put(zw)
	return nil
}

// record keeps an object's sizes unless its checksum has some already.
func (s *sizeRecorder) record(c Checksum, t ObjectType, archived, unpacked uint64) {
	if s == nil || t != ObjFile && t != ObjDirTree && t != ObjDirMeta {
		return
	}
	s.mu.Lock()
	if _, ok := s.sizes[c]; !ok {
		s.sizes[c] = ObjectSize{c, t, archived, unpacked}
	}
	s.mu.Unlock()
}

// CommitSizes returns the sizes recorded since RecordSizes, by checksum,
// and forgets them (ostree starts afresh for each commit); none without
// RecordSizes.
func (tx *Transaction) CommitSizes() []ObjectSize {
	s := tx.sizes.Load()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ObjectSize, 0, len(s.sizes))
	for _, e := range s.sizes {
		out = append(out, e)
	}
	clear(s.sizes)
	slices.SortFunc(out, func(a, b ObjectSize) int { return bytes.Compare(a.Checksum[:], b.Checksum[:]) })
	return out
}

// SizesMetadata is the ostree.sizes entry of commit metadata for sizes
// (nil: none, no entry): an "aay" of one byte string per object, its
// checksum, the archived then the unpacked size as unsigned LEB128
// varints, and its object type byte, as ostree 2022.7 writes it.
func SizesMetadata(sizes []ObjectSize) *gvariant.Entry {
	if len(sizes) == 0 {
		return nil
	}
	arr := gvariant.Value{Type: "aay"}
	for _, e := range sizes {
		b := make([]byte, 0, 32+2*binary.MaxVarintLen64+1)
		b = append(b, e.Checksum[:]...)
		b = binary.AppendUvarint(b, e.Archived)
		b = binary.AppendUvarint(b, e.Unpacked)
		b = append(b, byte(e.Type))
		arr.Elems = append(arr.Elems, gvariant.Value{Type: "ay", Bytes: b})
	}
	return &gvariant.Entry{Key: "ostree.sizes", Value: gvariant.Variant{Type: "aay", Data: gvariant.Encode(arr)}}
}

// uncount takes back the staged object xx/name, which objects/ already
// held when it was published, if this transaction counted it as written.
func (tx *Transaction) uncount(xx, name string) {
	base, ext, ok := strings.Cut(name, ".")
	if !ok {
		return
	}
	c, err := ParseChecksum(xx + base)
	if err != nil {
		return
	}
	var t ObjectType
	for _, cand := range []ObjectType{ObjFile, ObjDirTree, ObjDirMeta, ObjCommit, ObjTombstone} {
		if tx.r.ext(cand) == ext {
			t = cand
		}
	}
	if t == 0 {
		return
	}
	if payload, ok := tx.stage.counted(c, t); ok {
		tx.count.unwritten(t, payload)
	}
}
