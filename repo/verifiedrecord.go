package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/tmpdir"
)

// The verified-objects record: which files of the repository a checkout
// has hashed against their checksum, and what they looked like then, so
// that the next checkout links them without reading them again.
//
// A checkout verifies what it links: a hardlinked object of a bare
// repository, or an uncompressed-objects cache entry, is the very inode
// the checkout's file becomes, and a write into any checkout changes it.
// Hashing every file every time costs what reading the whole tree costs;
// ostree verifies nothing. The record sits in between: an entry says
// "object C (or C's cache entry) was inode I of device D, size S, mtime M,
// mode/uid/gid P, xattrs X when it hashed to C"; a file that still
// matches is linked unread, anything else is hashed again (and fails the
// checkout if it no longer matches its checksum).
//
// The tripwire is the mtime, not the ctime: every link and unlink changes
// a hardlinked inode's ctime, so each checkout (by either tool) and each
// removal of one would invalidate the record. A write into the inode sets
// its mtime to the current time; a chmod, chown or replacement changes
// mode, owner or inode; an xattr change of a bare object changes X.
//
// Fsck, which hashes every object anyway, records those that hash right
// by the same rules (regular, non-empty, looking the same before and after
// the reading, past the racy window), so a bare checkout after an fsck
// links without reading.
//
// What it does not catch, and fsck does: a write that keeps the size and
// then sets the mtime back to the recorded one to the nanosecond (`cp -p`
// of a same-sized file from another ostree checkout, whose mtimes are 0
// as those of bare objects are), and corruption below the filesystem.
// Fsck drops the entries of every object it finds corrupt, with or
// without --delete, and prune those of every object it deletes.
//
// An archive repository's .filez is recorded too, by a checkout that
// inflated it and hashed the payload to its checksum: the next checkout
// inflates it and writes what it decodes to without hashing it again.
// Inflating is deterministic, so the same bytes decode to the same,
// verified, payload; and a .filez is never a checkout's file, so no write
// into a checkout reaches it: only a deliberate rewrite that restores the
// mtime, or corruption below the filesystem, escapes the tripwire, as
// above. The DEFLATE stream and the payload's size are still checked.
//
// A file whose mtime is less than vrRacy old is never recorded: a write
// in the same clock tick as the recorded mtime would leave it unchanged.
// New cache entries are therefore recorded by the first checkout that
// hashes them afterwards, not by the one that writes them.
//
// The record is one file, repo/repofs-verified: a header (magic, count),
// fixed-size entries sorted by checksum and kind, and the SHA-256 of all
// that. It is rewritten in place under an exclusive OFD lock on itself
// (readers take none: a torn or damaged record fails its checksum and
// reads as empty, so the worst a crash does is one more hashing pass).
// ostree neither reads nor writes it.

// verifiedRecordName is the record's file in the repository.
const verifiedRecordName = "repofs-verified"

const (
	vrMagic     = "repofs-verified1"
	vrHeaderLen = len(vrMagic) + 8
	vrEntryLen  = 32 + 1 + 3 + vrStatLen + 8
	vrRacy      = 2 * time.Second
)

// vrKind is what an entry describes.
type vrKind uint8

const (
	vrObject     vrKind = 1 // objects/XX/REST.file of a bare repository
	vrCacheEntry vrKind = 2 // the uncompressed-objects cache entry
	vrArchive    vrKind = 3 // objects/XX/REST.filez of an archive repository
)

// vrStat is what a verified file looked like.
type vrStat struct {
	mode, uid, gid uint32
	dev, ino, size uint64
	mtimeSec       int64
	mtimeNsec      uint32
	xattrs         [8]byte // prefix of the SHA-256 of the xattrs; zero: none or not checked
}

func vrStatOf(st *unix.Stat_t) vrStat {
	return vrStat{mode: st.Mode, uid: st.Uid, gid: st.Gid, dev: st.Dev, ino: st.Ino, size: uint64(st.Size),
		mtimeSec: st.Mtim.Sec, mtimeNsec: uint32(st.Mtim.Nsec)}
}

// racy reports whether s is too recent to be recorded.
func (s vrStat) racy() bool {
	return time.Unix(s.mtimeSec, int64(s.mtimeNsec)).After(time.Now().Add(-vrRacy))
}

// verifiedRecord is one process's view of the record: the entries read
// at open, and what this process verified or found bad meanwhile.
type verifiedRecord struct {
	path string
	data []byte // sorted entries as read

	mu   sync.Mutex
	add  map[vrKey]vrStat
	drop map[vrKey]bool
}

type vrKey struct {
	c Checksum
	k vrKind
}

// openVerifiedRecord reads r's record. It never fails: a record that is
// missing, unreadable or damaged is empty.
func (r *Repo) openVerifiedRecord() *verifiedRecord {
	v := &verifiedRecord{path: filepath.Join(r.path, verifiedRecordName), add: map[vrKey]vrStat{}, drop: map[vrKey]bool{}}
	b, err := os.ReadFile(v.path)
	if err == nil {
		v.data, _ = vrParse(b)
	}
	return v
}

// vrParse checks a record's bytes and returns its entries.
func vrParse(b []byte) ([]byte, bool) {
	if len(b) < vrHeaderLen+sha256.Size || string(b[:len(vrMagic)]) != vrMagic {
		return nil, false
	}
	n := binary.LittleEndian.Uint64(b[len(vrMagic):vrHeaderLen])
	body := b[:len(b)-sha256.Size]
	if n > uint64(len(body)) || uint64(len(body)-vrHeaderLen) != n*vrEntryLen {
		return nil, false
	}
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], b[len(body):]) {
		return nil, false
	}
	return body[vrHeaderLen:], true
}

func vrEncodeKey(k vrKey) []byte {
	return append(k.c[:len(k.c):len(k.c)], byte(k.k))
}

func vrEncode(k vrKey, s vrStat) []byte {
	b := make([]byte, 0, vrEntryLen)
	b = append(b, k.c[:]...)
	b = append(b, byte(k.k), 0, 0, 0)
	b = s.appendTo(b)
	return append(b, s.xattrs[:]...)
}

// vrStatLen is the length of vrStat's encoding, its xattrs aside.
const vrStatLen = 4*3 + 8*3 + 8 + 4 + 4

// appendTo appends s but its xattrs to b, little-endian, padded to
// vrStatLen; the verified record and the cache's pending manifests use it.
func (s vrStat) appendTo(b []byte) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, s.mode)
	b = le.AppendUint32(b, s.uid)
	b = le.AppendUint32(b, s.gid)
	b = le.AppendUint64(b, s.dev)
	b = le.AppendUint64(b, s.ino)
	b = le.AppendUint64(b, s.size)
	b = le.AppendUint64(b, uint64(s.mtimeSec))
	b = le.AppendUint32(b, s.mtimeNsec)
	return append(b, 0, 0, 0, 0)
}

// vrStatFrom decodes what appendTo appended at the start of e.
func vrStatFrom(e []byte) vrStat {
	le := binary.LittleEndian
	return vrStat{mode: le.Uint32(e[0:]), uid: le.Uint32(e[4:]), gid: le.Uint32(e[8:]),
		dev: le.Uint64(e[12:]), ino: le.Uint64(e[20:]), size: le.Uint64(e[28:]),
		mtimeSec: int64(le.Uint64(e[36:])), mtimeNsec: le.Uint32(e[44:])}
}

func vrDecode(e []byte) (vrKey, vrStat) {
	var k vrKey
	copy(k.c[:], e[:32])
	k.k = vrKind(e[32])
	s := vrStatFrom(e[36:])
	copy(s.xattrs[:], e[36+vrStatLen:])
	return k, s
}

// vrFind returns the entry of k in sorted entries, by binary search. A
// checkout looks up every file it writes: the search compares the first
// eight bytes of the checksums as a number, which almost always decides,
// and builds the key on the stack.
func vrFind(data []byte, k vrKey) (vrStat, bool) {
	var kb [33]byte
	copy(kb[:], k.c[:])
	kb[32] = byte(k.k)
	key := kb[:]
	head := binary.BigEndian.Uint64(key)
	n := len(data) / vrEntryLen
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		e := data[m*vrEntryLen : m*vrEntryLen+33]
		if h := binary.BigEndian.Uint64(e); h != head {
			if h < head {
				lo = m + 1
			} else {
				hi = m
			}
		} else if bytes.Compare(e, key) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < n && bytes.Equal(data[lo*vrEntryLen:lo*vrEntryLen+33], key) {
		_, s := vrDecode(data[lo*vrEntryLen : (lo+1)*vrEntryLen])
		return s, true
	}
	return vrStat{}, false
}

// lookup returns what c's file of kind k looked like when verified.
func (v *verifiedRecord) lookup(c Checksum, k vrKind) (vrStat, bool) {
	key := vrKey{c, k}
	v.mu.Lock()
	s, ok := v.add[key]
	dropped := v.drop[key]
	v.mu.Unlock()
	if ok || dropped {
		return s, ok
	}
	return vrFind(v.data, key)
}

// put records that c's file of kind k, looking like s, hashed to c.
func (v *verifiedRecord) put(c Checksum, k vrKind, s vrStat) {
	if s.racy() {
		return
	}
	v.mu.Lock()
	v.add[vrKey{c, k}] = s
	delete(v.drop, vrKey{c, k})
	v.mu.Unlock()
}

// forget drops c's entry of kind k: the file no longer matches it.
func (v *verifiedRecord) forget(c Checksum, k vrKind) {
	v.mu.Lock()
	delete(v.add, vrKey{c, k})
	v.drop[vrKey{c, k}] = true
	v.mu.Unlock()
}

// changed reports whether save has anything to write.
func (v *verifiedRecord) changed() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.add) > 0 || len(v.drop) > 0
}

// save merges this process's changes into the record as it is now. A
// repository this user cannot write keeps its record as it is.
func (v *verifiedRecord) save(ctx context.Context) error {
	if !v.changed() {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return vrUpdate(ctx, v.path, func(k vrKey, s vrStat) bool { return !v.drop[k] }, v.add)
}

// vrUpdate rewrites the record at path under its lock: the entries keep
// says to keep, then add's.
func vrUpdate(ctx context.Context, path string, keep func(vrKey, vrStat) bool, add map[vrKey]vrStat) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS) {
			return nil
		}
		return fmt.Errorf("open the verified-objects record: %w", err)
	}
	defer f.Close()
	if err := tmpdir.Lock(ctx, f, tmpdir.Exclusive, 30*time.Second); err != nil {
		return fmt.Errorf("lock the verified-objects record %s: %w", path, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("read the verified-objects record %s: %w", path, err)
	}
	old, _ := vrParse(b)
	ents := make(map[vrKey]vrStat, len(old)/vrEntryLen+len(add))
	for e := old; len(e) >= vrEntryLen; e = e[vrEntryLen:] {
		k, s := vrDecode(e[:vrEntryLen])
		if keep(k, s) {
			ents[k] = s
		}
	}
	for k, s := range add {
		ents[k] = s
	}
	keys := make([]vrKey, 0, len(ents))
	for k := range ents {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b vrKey) int { return bytes.Compare(vrEncodeKey(a), vrEncodeKey(b)) })
	out := make([]byte, 0, vrHeaderLen+len(keys)*vrEntryLen+sha256.Size)
	out = append(out, vrMagic...)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(keys)))
	for _, k := range keys {
		out = append(out, vrEncode(k, ents[k])...)
	}
	sum := sha256.Sum256(out)
	out = append(out, sum[:]...)
	if _, err := f.WriteAt(out, 0); err != nil {
		return fmt.Errorf("write the verified-objects record %s: %w", path, err)
	}
	if err := f.Truncate(int64(len(out))); err != nil {
		return fmt.Errorf("write the verified-objects record %s: %w", path, err)
	}
	return nil
}

// ForgetVerified drops the record's entries for the given objects (of
// both kinds), or, with stale, those whose object is gone. Fsck calls it
// with the objects it found corrupt, prune with stale after its sweep.
func (r *Repo) ForgetVerified(ctx context.Context, objs []Checksum, stale bool) error {
	p := filepath.Join(r.path, verifiedRecordName)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	gone := map[Checksum]bool{}
	for _, c := range objs {
		gone[c] = true
	}
	return vrUpdate(ctx, p, func(k vrKey, _ vrStat) bool {
		if gone[k.c] {
			return false
		}
		if stale {
			have, err := r.HasObject(k.c, ObjFile)
			return err != nil || have
		}
		return true
	}, nil)
}

// xattrDigest is the first bytes of the SHA-256 of the raw xattrs of
// the file at p (not following a symlink); zero for none.
func xattrDigest(p string) ([8]byte, error) {
	var d [8]byte
	var small [1024]byte
	n, err := unix.Llistxattr(p, small[:])
	if errors.Is(err, unix.ERANGE) {
		sz, err2 := unix.Llistxattr(p, nil)
		if err2 != nil {
			return d, err2
		}
		big := make([]byte, sz)
		n, err = unix.Llistxattr(p, big)
		if err == nil {
			return xattrDigestOf(p, big[:n])
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	if n == 0 {
		return d, nil
	}
	return xattrDigestOf(p, small[:n])
}

func xattrDigestOf(p string, names []byte) ([8]byte, error) {
	var d [8]byte
	list := bytes.Split(bytes.TrimSuffix(names, []byte{0}), []byte{0})
	slices.SortFunc(list, bytes.Compare)
	h := sha256.New()
	for _, name := range list {
		val, err := lgetxattrAll(p, string(name))
		if err != nil {
			return d, err
		}
		h.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(name))))
		h.Write(name)
		h.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(val))))
		h.Write(val)
	}
	copy(d[:], h.Sum(nil))
	if d == ([8]byte{}) {
		d[0] = 1 // zero means none
	}
	return d, nil
}

func lgetxattrAll(p, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			sz, err := unix.Lgetxattr(p, name, nil)
			if err != nil {
				return nil, err
			}
			buf = make([]byte, sz+1)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// fsckRecord is the record fsck adds to, or nil where no checkout links
// objects (an archive repository's are never the checkout's files).
func (r *Repo) fsckRecord() *verifiedRecord {
	if r.mode == ModeArchive {
		return nil
	}
	return r.openVerifiedRecord()
}

// verifyRecording is fsck's verifyContent that also records, in rec if
// not nil, an object that hashed to its checksum, by the rules a checkout
// records what it links by: a regular, non-empty file that looked the
// same (inode, size, mtime, mode, owner, xattrs) before and after it was
// read, and whose mtime is past the racy window. The next bare checkout
// then links it unread.
func (r *Repo) verifyRecording(rec *verifiedRecord, c Checksum) error {
	if rec == nil {
		return r.verifyContent(c)
	}
	p := r.objectPath(c, ObjFile)
	look := func() (vrStat, bool) {
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size == 0 {
			return vrStat{}, false
		}
		xd, err := xattrDigest(p)
		if err != nil {
			return vrStat{}, false
		}
		s := vrStatOf(&st)
		s.xattrs = xd
		return s, true
	}
	before, ok := look()
	if err := r.verifyContent(c); err != nil {
		return err
	}
	if after, ok2 := look(); ok && ok2 && before == after {
		rec.put(c, vrObject, after)
	}
	return nil
}
