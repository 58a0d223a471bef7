package repo

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/bufpool"
	"github.com/repofs/repofs/internal/inflate"
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
	// large holds a slot per object over maxImportWhole being copied:
	// each is read whole (up to maxWholeFile) to decode fast, and a
	// tree's large files sit together in a directory, so all workers
	// would otherwise hold one at once, for a peak RSS several times
	// ostree's.
	large chan struct{}
	// objects is the source's objects/ directory, held open so that an
	// object is opened relative to it, with no path walk from the root
	// per object; nil if it could not be opened (then paths are used).
	// The descriptor is closed when the Importer is collected.
	objects *os.File
}

// Importer returns an Importer of src's objects into this transaction.
func (tx *Transaction) Importer(src *Repo) *Importer {
	var a, b unix.Stat_t
	same := unix.Stat(src.objects, &a) == nil && unix.Stat(tx.r.objects, &b) == nil && a.Uid == b.Uid && a.Dev == b.Dev
	im := &Importer{tx: tx, src: src, sameFS: same, large: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
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
// What is checked: ostree's pull-local without --untrusted trusts the
// source and hashes nothing it copies (ostree_repo_write_content_trusted).
// repofs puts nothing in objects/ unverified, so a copied object is hashed
// once, as it is decoded and before it is written: never a second time on
// the way out of the source (Repo.OpenFile's own check is skipped here).
// A hardlinked object is the source's file itself: checked only with
// verify, as ostree does with --untrusted.
func (im *Importer) Import(c Checksum, t ObjectType, verify bool) (how Imported, written int64, err error) {
	tx, src := im.tx, im.src
	if t != ObjCommitMeta {
		if ok, err := tx.HasObject(c, t); ok || err != nil {
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
	n, err := im.copyContent(c)
	if err != nil {
		return 0, 0, err
	}
	return ImportCopied, n, nil
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
// mode and verified in one pass; it returns the payload bytes.
func (im *Importer) copyContent(c Checksum) (int64, error) {
	if im.src.mode == ModeArchive {
		if n, ok, err := im.copyArchiveWhole(c); ok {
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

// maxImportWhole is the largest payload copyArchiveWhole decodes at once:
// the largest buffer bufpool keeps.
const maxImportWhole = 4 << 20

// copyArchiveWhole copies the .filez c of an archive source through
// memory: read whole with bare system calls, decoded at once (package
// inflate, about twice as fast as streaming), hashed, and written with one
// write. ok is false, and nothing done, for a payload over maxImportWhole
// or when the bytes held by readers in memory are at their bound
// (wholeBudget): the caller streams the object then.
func (im *Importer) copyArchiveWhole(c Checksum) (n int64, ok bool, err error) {
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
	if st.Size > maxImportWhole || !holdWhole(st.Size) {
		return 0, false, nil
	}
	defer wholeBudget.Add(-st.Size)
	fi, payload, buf, err := loadFilez(fd, st.Size)
	if err != nil {
		return 0, true, &ObjectError{Object: name, Err: err}
	}
	defer bufpool.Put(buf)
	if msg := fi.validate(); msg != "" {
		return 0, true, corruptf(c, ObjFile, "%s", msg)
	}
	var data []byte
	if !fi.IsSymlink() {
		if fi.Size > maxImportWhole || !holdWhole(int64(fi.Size)) {
			return 0, false, nil
		}
		defer wholeBudget.Add(-int64(fi.Size))
		data = bufpool.Get(int(fi.Size))
		defer bufpool.Put(data)
		if err := inflate.Decode(data, payload); err != nil {
			return 0, true, corruptf(c, ObjFile, "%v", err)
		}
	}
	h := sha256.New()
	h.Write(contentStreamPrefix(fi))
	h.Write(data)
	if got := Checksum(h.Sum(nil)); got != c {
		return 0, true, corruptf(c, ObjFile, "checksum expected='%s' actual='%s'", c, got)
	}
	if err := im.tx.stageVerified(fi, data, c); err != nil {
		return 0, true, err
	}
	return int64(fi.Size), true, nil
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
