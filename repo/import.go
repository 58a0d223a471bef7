package repo

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// Imported says how ImportObject staged an object.
type Imported int

const (
	ImportPresent Imported = iota // the repository had it already
	ImportLinked                  // hardlinked from the source
	ImportCopied                  // read from the source and rewritten
)

// ImportObject stages object c of type t from src, a repository of any
// mode, as ostree's pull-local does: a hardlink where both are on one
// filesystem with one owner and store the object alike (metadata always;
// content between equal modes, and regular files from bare-user to
// bare-user-only), else a copy rewritten in this repository's mode, which
// is checked against c as it is written. verify (--untrusted) checks a
// linked object against c first too. written is the content bytes copied.
func (tx *Transaction) ImportObject(src *Repo, c Checksum, t ObjectType, verify bool) (how Imported, written int64, err error) {
	if t != ObjCommitMeta {
		if ok, err := tx.HasObject(c, t); ok || err != nil {
			return ImportPresent, 0, err
		}
	}
	if t != ObjCommitMeta && tx.linkable(src, c, t) {
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
	fi, rc, err := src.OpenFile(c)
	if err != nil {
		return 0, 0, err
	}
	defer rc.Close()
	if _, err := tx.WriteContent(fi, rc, &c); err != nil {
		return 0, 0, err
	}
	return ImportCopied, int64(fi.Size), nil
}

// linkable reports whether src's object file can serve as this
// repository's, as ostree decides (same owner and device checked by the
// link itself failing with EXDEV, and by owner here).
func (tx *Transaction) linkable(src *Repo, c Checksum, t ObjectType) bool {
	var a, b unix.Stat_t
	if unix.Stat(src.objects, &a) != nil || unix.Stat(tx.r.objects, &b) != nil || a.Uid != b.Uid || a.Dev != b.Dev {
		return false
	}
	switch {
	case t != ObjFile, src.mode == tx.r.mode:
		return true
	case src.mode == ModeBareUser && tx.r.mode == ModeBareUserOnly:
		// A bare-user symlink is a regular file; bare-user-only stores a
		// real symlink, and no owner, mode bits or xattrs beyond 0775.
		fi, err := src.StatFile(c)
		return err == nil && !fi.IsSymlink() && fi.UID == 0 && fi.GID == 0 && len(fi.Xattrs) == 0 && fi.Mode&^(sIFMT|0o775) == 0
	}
	return false
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
