package repo

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo/gvariant"
)

// ChecksumPath returns the checksum ostree gives the file at p (not
// followed if it is a symlink) as content: the SHA-256 of its content
// stream. A directory gets the checksum of its dirmeta, as ostree checksum
// computes it; any other kind of file (a device, a FIFO) that of its header
// alone. With ignoreXattrs the extended attributes are left out.
func ChecksumPath(p string, ignoreXattrs bool) (Checksum, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return Checksum{}, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	return checksumStat(p, &st, ignoreXattrs)
}

// checksumStat is ChecksumPath for a file already statted (the owner in
// st may have been replaced).
func checksumStat(p string, st *unix.Stat_t, ignoreXattrs bool) (Checksum, error) {
	var xs []Xattr
	if !ignoreXattrs {
		var err error
		if xs, err = listXattrs(p); err != nil {
			return Checksum{}, err
		}
	}
	h := sha256.New()
	switch st.Mode & sIFMT {
	case sIFDIR:
		h.Write(gvariant.EncodeDirMeta(gvariant.DirMeta{UID: st.Uid, GID: st.Gid, Mode: st.Mode, Xattrs: xattrsToGV(xs)}))
	case sIFLNK:
		t, err := os.Readlink(p)
		if err != nil {
			return Checksum{}, err
		}
		h.Write(contentStreamPrefix(&FileInfo{UID: st.Uid, GID: st.Gid, Mode: st.Mode, Target: t, Xattrs: xs}))
	case sIFREG:
		f, err := os.Open(p)
		if err != nil {
			return Checksum{}, err
		}
		defer f.Close()
		h.Write(contentStreamPrefix(&FileInfo{UID: st.Uid, GID: st.Gid, Mode: st.Mode, Xattrs: xs}))
		if _, err := io.Copy(h, f); err != nil {
			return Checksum{}, fmt.Errorf("checksum %s: %w", p, err)
		}
	default:
		h.Write(contentStreamPrefix(&FileInfo{UID: st.Uid, GID: st.Gid, Mode: st.Mode, Xattrs: xs}))
	}
	var c Checksum
	h.Sum(c[:0])
	return c, nil
}
