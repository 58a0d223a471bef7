package repo

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/inflate"
	"github.com/repofs/repofs/repo/gvariant"
)

// Imported says how Importer.Import staged an object.
type Imported int

const (
	ImportPresent Imported = iota // the repository had it already
	ImportLinked                  // hardlinked from the source
	ImportCopied                  // read from the source and rewritten
)

// An Importer imports objects of one source repository, of any mode,
// into a transaction, as ostree's pull-local does: a hardlink where both
// are on one filesystem with one owner and store the object alike
// (metadata always; content between equal modes, and regular files from
// bare-user to bare-user-only), else a copy rewritten in the
// transaction's repository's mode, checked against its checksum as it is
// written. It decides once, for all objects, what can be linked, and
// bounds the large objects its callers hold in memory at once: make one
// per source per transaction. It is safe for concurrent use.
type Importer struct {
	tx  *Transaction
	src *Repo
	// sameFS: both object stores are on one filesystem with one owner,
	// so an object stored alike can be hardlinked.
	sameFS bool
	// large holds a slot per object streamed from its file (a .filez
	// over maxWholeFile, or met while wholeBudget is spent): a tree's
	// large files sit together in a directory, so all workers would
	// otherwise hold one's buffers at once.
	large chan struct{}
	// objects is the source's objects/ directory, held open so that an
	// object is opened relative to it, with no path walk from the root
	// per object; nil if it could not be opened (then paths are used).
	// The descriptor is closed when the Importer is collected.
	objects *os.File
	// free holds the scratch space of copies done, for the next ones.
	free chan *importScratch
	// listed holds, per first checksum byte, the names in the
	// destination's objects/XX when it was first asked about (see has).
	listed [256]struct {
		once  sync.Once
		names map[string]struct{} // nil: not listed, ask HasObject
	}
}

// Importer returns an Importer of src's objects into this transaction.
func (tx *Transaction) Importer(src *Repo) *Importer {
	var a, b unix.Stat_t
	same := unix.Stat(src.objects, &a) == nil && unix.Stat(tx.r.objects, &b) == nil && a.Uid == b.Uid && a.Dev == b.Dev
	im := &Importer{tx: tx, src: src, sameFS: same, large: make(chan struct{}, max(1, runtime.GOMAXPROCS(0))), free: make(chan *importScratch, 4*runtime.GOMAXPROCS(0))}
	if f, err := os.Open(src.objects); err == nil {
		im.objects = f
	}
	return im
}

// openObject opens the source's object file c (ObjFile) for reading,
// never following a symlink.
func (im *Importer) openObject(c Checksum) (int, error) {
	const flags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if im.objects == nil {
		return unix.Open(im.src.objectPath(c, ObjFile), flags, 0)
	}
	h := c.String()
	fd, err := unix.Openat(int(im.objects.Fd()), h[:2]+"/"+h[2:]+"."+im.src.ext(ObjFile), flags, 0)
	runtime.KeepAlive(im.objects)
	return fd, err
}

// Import stages object c of type t from the Importer's source. verify
// (--untrusted) checks a linked object against c first too. written is
// the content bytes copied.
//
// What is checked follows ostree's pull-local. Without verify (no
// --untrusted) the source is trusted to hold under each name the object
// that hashes to it: a hardlinked object is the source's file itself, and
// a regular file decoded from an archive source is written unhashed, as
// ostree writes it (_ostree_repo_import_object passes no checksum out to
// ostree_repo_write_content, which then computes none). That is sound
// because what such a copy writes is a function of nothing but what the
// checksum covers: the payload, decoded to exactly the size the header
// gives, and the owner, mode and xattrs of the header, from which the
// hashed header is built. So the destination holds c exactly when the
// source does, as with a hardlink. The decoding still checks the header
// and the DEFLATE stream, and symlinks are hashed still (only a header:
// nothing to save). With verify every object is checked against its
// checksum before it is staged, linked or copied, once: never a second
// time on the way out of the source (Repo.OpenFile's own check is
// skipped here). Other copies (a stream into WriteContent, metadata) are
// hashed either way.
func (im *Importer) Import(c Checksum, t ObjectType, verify bool) (how Imported, written int64, err error) {
	tx, src := im.tx, im.src
	if t != ObjCommitMeta {
		if ok, err := im.has(c, t); ok || err != nil {
			return ImportPresent, 0, err
		}
	}
	if t != ObjCommitMeta && im.linkable(c, t) {
		if verify {
			if err := src.verifyObject(c, t); err != nil {
				return 0, 0, err
			}
		}
		if ok, err := tx.linkFrom(src, c, t); ok || err != nil {
			return ImportLinked, 0, err
		}
	}
	if t != ObjFile {
		data, err := src.ReadMetadata(c, t)
		if err != nil {
			return 0, 0, err
		}
		_, err = tx.WriteMetadata(t, data, &c)
		return ImportCopied, 0, err
	}
	n, err := im.copyContent(c, verify)
	if err != nil {
		return 0, 0, err
	}
	return ImportCopied, n, nil
}

// maxListedDir is the largest directory of objects (in bytes, as stat
// gives it: a few thousand entries) has lists whole rather than looking
// each object up.
const maxListedDir = 256 << 10

// has is Transaction.HasObject for an import, which asks about every
// object of a tree, most of them absent: rather than a failed lookup per
// object, it lists each objects/XX of the destination once, when small
// (a new or small repository; a larger one is asked object by object).
// An object published into objects/ by another transaction after the
// listing is imported again, and its publishing finds it there.
func (im *Importer) has(c Checksum, t ObjectType) (bool, error) {
	tx := im.tx
	if tx.stage.has(c, t) {
		return true, nil
	}
	l := &im.listed[c[0]]
	l.once.Do(func() { l.names = tx.listObjectDir(c[0]) })
	if l.names == nil {
		return tx.HasObject(c, t)
	}
	rel := tx.stagedRel(c, t)
	_, ok := l.names[rel[3:]]
	return ok, nil
}

// listObjectDir returns the names in objects/XX, XX being b (empty when
// it does not exist), or nil when it is too large to list or cannot be.
func (tx *Transaction) listObjectDir(b byte) map[string]struct{} {
	if tx.objects < 0 {
		return nil
	}
	fd, err := unix.Openat(tx.objects, hexByte(b), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return map[string]struct{}{}
	}
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Size > maxListedDir {
		return nil
	}
	names := map[string]struct{}{}
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil
		}
		if n <= 0 {
			return names
		}
		var ents []string
		_, _, ents = unix.ParseDirent(buf[:n], -1, ents)
		for _, e := range ents {
			names[e] = struct{}{}
		}
	}
}

// linkable reports whether the source's object file can serve as this
// repository's, as ostree decides (same owner and device checked by the
// link itself failing with EXDEV, and by owner here).
func (im *Importer) linkable(c Checksum, t ObjectType) bool {
	src, dst := im.src, im.tx.r
	switch {
	case !im.sameFS:
		return false
	case t != ObjFile, src.mode == dst.mode:
		return true
	case src.mode == ModeBareUser && dst.mode == ModeBareUserOnly:
		// A bare-user symlink is a regular file; bare-user-only stores a
		// real symlink, and no owner, mode bits or xattrs beyond 0775.
		fi, err := src.StatFile(c)
		return err == nil && !fi.IsSymlink() && fi.UID == 0 && fi.GID == 0 && len(fi.Xattrs) == 0 && fi.Mode&^(sIFMT|0o775) == 0
	}
	return false
}

// copyContent copies content object c, rewritten in this repository's
// mode and, if verify or where Import says, hashed in the same pass; it
// returns the payload bytes.
func (im *Importer) copyContent(c Checksum, verify bool) (int64, error) {
	if im.src.mode == ModeArchive {
		if n, ok, err := im.copyArchiveWhole(c, verify); ok {
			return n, err
		}
		im.large <- struct{}{}
		defer func() { <-im.large }()
	}
	// WriteContent hashes what it reads against c: the reader need not.
	fi, rc, err := im.src.openContent(im.src.objectPath(c, ObjFile), c, true, false)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if _, err := im.tx.WriteContent(fi, rc, &c); err != nil {
		return 0, err
	}
	return int64(fi.Size), nil
}

// maxImportWhole is the largest payload copyArchiveWhole decodes at once,
// and the largest buffer an importScratch keeps between objects.
const maxImportWhole = 1 << 20

// importChunk is how much of a payload over maxImportWhole is decoded,
// hashed and written at a time: a slide of inflate.Reader's window.
const importChunk = 256 << 10

// importScratch is what one copy of an archive object works in: buffers
// that outlive the object, so that thousands of small objects do not each
// take fresh pages from the heap (page faults, collections), and a
// reused hash and streaming inflater.
type importScratch struct {
	in, out []byte // the .filez read whole; the payload decoded
	h       hash.Hash
	z       *inflate.Reader
	// mapped is the .filez being copied when it is mapped, not in in:
	// stageChunked drops its pages already decoded from the process.
	mapped []byte
}

// scratch returns a free importScratch, or a new one.
func (im *Importer) scratch() *importScratch {
	select {
	case s := <-im.free:
		return s
	default:
		return &importScratch{h: sha256.New()}
	}
}

// release gives s back, without the buffers over maxImportWhole: those
// are rare, and would otherwise stay held by every worker.
func (im *Importer) release(s *importScratch) {
	if cap(s.in) > maxImportWhole {
		s.in = nil
	}
	if cap(s.out) > maxImportWhole {
		s.out = nil
	}
	select {
	case im.free <- s:
	default:
	}
}

// grow returns b resized to n bytes, reallocated only when too small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// copyArchiveWhole copies the .filez c of an archive source through
// memory: a small one read whole with bare system calls into a reused
// buffer, a larger one (over maxImportWhole) mapped, so that it takes no
// heap; its payload decoded at once (package inflate) and written with
// one write, or, over maxImportWhole, decoded, hashed and written a chunk
// at a time. ok is false, and nothing done, for a .filez over
// maxWholeFile, one over maxImportWhole bound for an archive repository,
// or when the bytes held by readers in memory are at their bound
// (wholeBudget): the caller streams the object from its file then.
func (im *Importer) copyArchiveWhole(c Checksum, verify bool) (n int64, ok bool, err error) {
	name := c.String() + "." + ObjFile.Ext()
	fd, err := im.openObject(c)
	switch {
	case errors.Is(err, unix.ENOENT):
		return 0, true, missing(c, ObjFile)
	case errors.Is(err, unix.ELOOP):
		return 0, true, corruptf(c, ObjFile, "object is a symlink, not a file")
	case err != nil:
		return 0, true, &ObjectError{Object: name, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, true, &ObjectError{Object: name, Err: err}
	}
	if st.Mode&sIFMT != sIFREG {
		return 0, true, corruptf(c, ObjFile, "not a regular file (mode 0%o)", st.Mode)
	}
	mapped := st.Size > maxImportWhole
	if st.Size > maxWholeFile || (mapped && im.tx.r.mode == ModeArchive) || !holdWhole(st.Size) {
		return 0, false, nil
	}
	defer wholeBudget.Add(-st.Size)
	s := im.scratch()
	defer im.release(s)
	var filez []byte
	if mapped {
		m, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return 0, false, nil
		}
		defer unix.Munmap(m)
		unix.Madvise(m, unix.MADV_SEQUENTIAL)
		filez = m
		s.mapped = m
		defer func() { s.mapped = nil }()
	} else {
		s.in = grow(s.in, int(st.Size))
		if err := readFull(fd, s.in); err != nil {
			return 0, true, &ObjectError{Object: name, Err: err}
		}
		filez = s.in
	}
	var fi *FileInfo
	err = readingMapped(mapped, func() error {
		fi, ok, err = im.copyFilez(s, c, filez, verify)
		return err
	})
	if oe := (*ObjectError)(nil); err != nil && !errors.As(err, &oe) {
		err = &ObjectError{Object: name, Err: err} // a fault names no object
	}
	if !ok || err != nil {
		return 0, ok, err
	}
	return int64(fi.Size), true, nil
}

// readingMapped runs f, which reads a mapped file if mapped: a file
// truncated meanwhile faults on the pages past its end, which must fail
// the object, not the process.
func readingMapped(mapped bool, f func() error) (err error) {
	if !mapped {
		return f()
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if _, ok := r.(interface{ Addr() uintptr }); ok {
			err = fmt.Errorf("%w; object changed while read", ErrCorrupt)
			return
		}
		panic(r)
	}()
	return f()
}

// copyFilez decodes, verifies and stages the .filez c held whole in
// filez; ok is false, and nothing done, when its payload would be held
// whole and that passes the bound of wholeBudget. A regular file is
// hashed only if verify (see Import).
func (im *Importer) copyFilez(s *importScratch, c Checksum, filez []byte, verify bool) (fi *FileInfo, ok bool, err error) {
	fi, payload, err := parseFilez(filez)
	if err != nil {
		return nil, true, &ObjectError{Object: c.String() + "." + ObjFile.Ext(), Err: err}
	}
	if msg := fi.validate(); msg != "" {
		return nil, true, corruptf(c, ObjFile, "%s", msg)
	}
	hash := verify || fi.IsSymlink()
	if hash {
		s.h.Reset()
		s.h.Write(contentStreamPrefix(fi))
	}
	if fi.Size > maxImportWhole && im.tx.r.mode != ModeArchive && !fi.IsSymlink() {
		return fi, true, im.stageChunked(s, c, fi, payload, hash)
	}
	var data []byte
	if !fi.IsSymlink() {
		if fi.Size > maxImportWhole || !holdWhole(int64(fi.Size)) {
			return nil, false, nil
		}
		defer wholeBudget.Add(-int64(fi.Size))
		s.out = grow(s.out, int(fi.Size))
		data = s.out
		if err := inflate.Decode(data, payload); err != nil {
			return nil, true, corruptf(c, ObjFile, "%v", err)
		}
	}
	if hash {
		s.h.Write(data)
		if got := Checksum(s.h.Sum(nil)); got != c {
			return nil, true, corruptf(c, ObjFile, "checksum expected='%s' actual='%s'", c, got)
		}
	}
	return fi, true, im.stageVerified(fi, data, c)
}

// stageVerified is Transaction.stageVerified for an import. A regular
// file of a bare-user or bare-user-only repository, whose bytes hashed to
// c before any is written (or, trusted, were decoded whole from the
// source's object c, see Import), is created under its staged name with its
// permissions at once (open with O_EXCL, write, xattr, times, close)
// rather than as an O_TMPFILE given its mode and then linked: two system
// calls fewer per object, and one inode operation (the unnamed inode's
// creation and its later naming are one create). Nothing but verified
// bytes ever sits under that name, and a staging directory left by a
// crash mid-write is verified again when reused, as every reused one is.
// An EEXIST means an identical object staged by another writer of the
// transaction: the first writer wins, as in Transaction.place.
func (im *Importer) stageVerified(fi *FileInfo, data []byte, c Checksum) error {
	tx := im.tx
	mode := tx.r.mode
	if fi.IsSymlink() || (mode != ModeBareUser && mode != ModeBareUserOnly) || tx.stage.noTmpfile.Load() {
		return tx.stageVerified(fi, data, c)
	}
	if uint64(len(data)) != fi.Size {
		return fmt.Errorf("write content object %s: %w: payload of %d bytes, expected %d", c, errPayloadSize, len(data), fi.Size)
	}
	if err := tx.r.fitsMode(fi, "content object "+c.String()); err != nil {
		return err
	}
	if err := tx.space.check(int64(len(data)), true); err != nil {
		return fmt.Errorf("stage %s.%s: %w", c, ObjFile.Ext(), err)
	}
	d := tx.stage
	if err := d.mkdirFor(c[0]); err != nil {
		return err
	}
	perm := fi.Mode&0o775 | 0o400
	if mode == ModeBareUserOnly {
		perm = fi.Mode & 0o775
	}
	rel := tx.stagedRel(c, ObjFile)
	fd, err := unix.Openat(d.fd, rel, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if errors.Is(err, unix.EEXIST) {
		tx.count.counted(ObjFile, false, 0)
		return nil
	}
	if err != nil {
		return fmt.Errorf("write content object %s: create %s/%s: %w", c, d.path, rel, err)
	}
	s := &staged{d: d, fd: fd}
	err = writeStaged(s, data, fi, mode, perm)
	if cerr := s.closeFile(); err == nil {
		err = cerr
	}
	if err != nil {
		// The bytes may not be what was written: do not keep them.
		unix.Unlinkat(d.fd, rel, 0)
		return fmt.Errorf("write content object %s: %w", c, err)
	}
	if tx.fsync {
		d.wrote(s.written)
	}
	tx.count.counted(ObjFile, true, fi.Size)
	d.noteCounted(c, ObjFile, fi.Size)
	return nil
}

// writeStaged writes data to the new file s and gives it the metadata of
// mode: what applyMetadata does, less the chmod where the file was
// created with perm and the umask took none of it.
func writeStaged(s *staged, data []byte, fi *FileInfo, mode Mode, perm uint32) error {
	if _, err := s.Write(data); err != nil {
		return err
	}
	if perm&processUmask() != 0 {
		return applyMetadata(s.fd, fi, mode)
	}
	var err error
	if mode == ModeBareUser {
		meta := gvariant.EncodeDirMeta(gvariant.DirMeta{UID: fi.UID, GID: fi.GID, Mode: fi.Mode, Xattrs: xattrsToGV(fi.Xattrs)})
		err = unix.Fsetxattr(s.fd, "user.ostreemeta", meta, 0)
	}
	if err == nil {
		err = futimensZero(s.fd)
	}
	if err != nil {
		return fmt.Errorf("write content object: set metadata: %w", err)
	}
	return nil
}

// readFull fills b, as long as the file open as fd, from it.
func readFull(fd int, b []byte) error {
	for n := 0; n < len(b); {
		m, err := unix.Pread(fd, b[n:], int64(n))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case m == 0:
			return fmt.Errorf("%w; object shrank while read", ErrCorrupt)
		}
		n += m
	}
	return nil
}

// stageChunked stages the regular file c of a bare mode, its payload
// compressed in payload, a chunk at a time: each chunk decoded, hashed (if
// hash) and written straight to the staged file, so that no buffer of the
// whole payload is held. The file is named only once the whole payload
// decoded to its size, and hashed to c; s.h holds the hash of the header
// already.
func (im *Importer) stageChunked(s *importScratch, c Checksum, fi *FileInfo, payload []byte, hash bool) error {
	tx := im.tx
	if err := tx.r.fitsMode(fi, "content object "+c.String()); err != nil {
		return err
	}
	if s.z == nil {
		s.z = inflate.NewReader(payload)
	} else {
		s.z.Reset(payload)
	}
	defer s.z.Reset(nil)
	f, err := tx.tempFile()
	if err != nil {
		return fmt.Errorf("write content object %s: %w", c, err)
	}
	buf := grow(s.out, importChunk)
	var got uint64
	dropped := 0
	for {
		n, rerr := s.z.Read(buf)
		if got += uint64(n); got > fi.Size {
			return tx.discard(f, corruptf(c, ObjFile, "payload longer than the %d bytes its header says", fi.Size))
		}
		if hash {
			s.h.Write(buf[:n])
		}
		if _, err := f.Write(buf[:n]); err != nil {
			return tx.discard(f, fmt.Errorf("write content object %s: %w", c, err))
		}
		dropped = dropDecoded(s.mapped, len(payload), got, fi.Size, dropped)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return tx.discard(f, corruptf(c, ObjFile, "%v", rerr))
		}
	}
	if got != fi.Size {
		return tx.discard(f, corruptf(c, ObjFile, "payload of %d bytes, its header says %d", got, fi.Size))
	}
	if hash {
		if sum := Checksum(s.h.Sum(nil)); sum != c {
			return tx.discard(f, corruptf(c, ObjFile, "checksum expected='%s' actual='%s'", c, sum))
		}
	}
	if err := applyMetadata(f.fd, fi, tx.r.mode); err != nil {
		return tx.discard(f, fmt.Errorf("write content object %s: %w", c, err))
	}
	f.payload = fi.Size
	return tx.place(f, c, ObjFile, false)
}

// dropDecoded drops from the process the pages of the mapped .filez m
// that its payload's decoder is past, having decoded got of size bytes
// from the last n bytes of m, so that a large object does not stay
// resident whole; pages up to dropped were dropped already, and it
// returns how far they are now. Where decoding is, in its input, is
// estimated in proportion, less a margin: a page dropped too early is
// only read again from the page cache.
func dropDecoded(m []byte, n int, got, size uint64, dropped int) int {
	const margin = 4 * importChunk
	if m == nil || size == 0 {
		return dropped
	}
	off := len(m) - n + int(float64(n)*float64(got)/float64(size)) - margin
	off &^= os.Getpagesize() - 1
	if off <= dropped {
		return dropped
	}
	unix.Madvise(m[dropped:off], unix.MADV_DONTNEED)
	return off
}

// holdWhole counts n more bytes held in memory against wholeBudget, or
// reports false, counting nothing, when that would pass its bound.
func holdWhole(n int64) bool {
	if wholeBudget.Add(n) > maxWholeHeld {
		wholeBudget.Add(-n)
		return false
	}
	return true
}

// linkFrom hardlinks src's object file into the staging directory; false
// when the filesystem refuses (EXDEV, EMLINK, EPERM): the caller copies.
func (tx *Transaction) linkFrom(src *Repo, c Checksum, t ObjectType) (bool, error) {
	if err := tx.stage.mkdirFor(c[0]); err != nil {
		return false, err
	}
	err := unix.Linkat(unix.AT_FDCWD, src.objectPath(c, t), tx.stage.fd, tx.stagedRel(c, t), 0)
	switch {
	case err == nil, errors.Is(err, unix.EEXIST):
		tx.stage.noteStaged(c, t)
		return true, nil
	case errors.Is(err, unix.EXDEV), errors.Is(err, unix.EMLINK), errors.Is(err, unix.EPERM):
		return false, nil
	case errors.Is(err, unix.ENOENT):
		return false, missing(c, t)
	}
	return false, fmt.Errorf("import %s.%s: link %s: %w", c, t.Ext(), src.objectPath(c, t), err)
}

// verifyObject checks an object of r against its checksum.
func (r *Repo) verifyObject(c Checksum, t ObjectType) error {
	if t != ObjFile {
		data, err := r.ReadMetadata(c, t)
		if err != nil {
			return err
		}
		_, err = CheckMetadata(t, data, &c)
		return err
	}
	_, rc, err := r.OpenFile(c)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return err
}
