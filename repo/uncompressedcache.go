package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/bufpool"
	"github.com/repofs/repofs/tmpdir"
)

// The uncompressed-objects cache, as libostree keeps it
// (ostree-repo-checkout.c, read for facts):
//
//   - It lives in repo/uncompressed-objects-cache/XX/REST.file, where
//     XXREST is the content object's checksum: the loose path of the
//     object as a bare repository names it, with no objects/ level.
//   - It is used only by a user-mode (-U) checkout from an archive
//     repository, only when the repository is writable, and only if
//     core.enable-uncompressed-cache (default true) is not false and
//     `--disable-cache` was not given.
//   - Regular files only: symlinks, empty files and files their owner
//     cannot read are always copied, never cached.
//   - An entry holds the object's payload, mode as in the object with
//     setuid and setgid cleared, owned by whoever checked it out, no
//     xattrs. ostree writes it as an O_TMPFILE in repo/tmp, fsync(2)s it
//     unless the repository's fsync is off (core.fsync=false, or
//     `ostree checkout --fsync=false`, which sets the repository's
//     disable_fsync), fchmods it, and links it into XX/ without replacing
//     (an existing entry wins). The checkout's file is then a hardlink of
//     the entry. So an entry's bytes are durable before it is named, one
//     fsync per entry (strace of ostree 2022.7 filling an empty cache:
//     as many fsync calls as entries, and no other flush); the cache's
//     directories are never fsynced, so a crash may lose names, never
//     leave a named entry with unwritten bytes. The checkout's own files
//     and directories are flushed only with the library's enable_fsync
//     checkout option, which the command line never sets.
//   - ostree never verifies an entry before hardlinking it, and nothing
//     in ostree prunes the cache when objects go (ostree_repo_checkout_gc
//     drops entries with one link, only in the directories the same
//     process filled; `ostree prune` leaves the cache alone).
//
// repofs keeps the layout and the entry format, so either tool hardlinks
// the other's entries, and differs where ostree trusts: an entry is
// verified (size, mode, and the object checksum of the object's header
// followed by the entry's bytes) every time before it is linked, because
// a checkout's file *is* the entry, and a write into any checkout
// changes it. A bad entry is replaced by the freshly written file.
//
// And it makes new entries durable later, not one by one. New entries are
// the checkout's own files, written from a verified object, also linked
// into a pending area of the checkout's own under tmp/ (tmpdir.Pending,
// named with the boot ID), laid out as the cache is, with the stat of
// each (inode, size, mtime, mode, owner) as written. The checkout ends
// there: it writes the area's manifest and unlocks it, syncing nothing.
// The next process that opens the cache for a -U checkout, and prune
// (under the repository's exclusive lock, before it drops the entries of
// deleted objects), claims every unlocked pending area (locked, so no two
// publish one) and publishes it:
//
//   - of another boot: dropped unpublished. A crash may have lost bytes
//     the checkout wrote; hashing each entry against its object could
//     save the good ones, at the cost of reading them all, for a cache
//     that costs one checkout to refill.
//   - without a whole manifest (its checkout was killed): dropped.
//   - of this boot: one syncfs, then each entry that still looks as
//     staged is renamed into the cache without replacing (an existing
//     entry wins), unless its checkout found the cache's entry bad
//     (then it replaces it); a staged directory the cache does not have
//     yet (all of them, into an empty cache) moves in whole, one rename,
//     if it holds nothing else; the area is removed. An entry that looks
//     otherwise was written or chmodded through the checkout's file, its
//     hardlink: it is dropped.
//
// ostree's rule holds: an entry is named in the cache only once its
// bytes are durable, and (repofs's) only from verified content. The bytes
// of a write finished in this boot are either on disk or in the page
// cache, which the syncfs flushes: so one syncfs by the publisher, rather
// than one by the checkout that wrote them (or one fsync per entry, as
// ostree), covers them. The checkout waits for no disk; the flush costs
// the next one what the kernel's writeback (dirty_expire_centisecs,
// 30 s by default) has not done by then: all of it right after, nothing
// once that has passed, leaving the publisher one stat per entry and
// the renames. A pending entry is used by
// nobody (neither tool looks in tmp/), so nothing trusts it before it is
// published; a lost one (a removed area, ostree's expiry of tmp/ after a
// day) only costs a later checkout the writing of that file. The tripwire
// for a change after staging is the stat, as in verifiedrecord.go: the
// mtime, not the ctime (every link and unlink changes a hardlinked
// inode's ctime: an `rm -rf` of the checkout would keep its entries out).
// What it misses (a same-sized write in the clock tick of the checkout's
// own, or one that sets the mtime back to the nanosecond) is published
// and then, as any entry, verified before repofs links it; ostree, which
// verifies nothing, would link it, as it links an entry changed through
// any checkout's file after it was published.
//
// With fsync off (`--fsync=false`, core.fsync=false) there is nothing to
// make durable: the checkout publishes its entries itself at the end, as
// it did before; a pending area is therefore always one that wants its
// syncfs, whatever the publisher's own setting. The publishing renames
// spread the cache's directories over one goroutine per core.

// uncompressedCacheDir is the cache's directory in the repository.
const uncompressedCacheDir = "uncompressed-objects-cache"

// ucache is one checkout's use of the uncompressed-objects cache.
type ucache struct {
	r     *Repo
	ctx   context.Context
	fsync bool
	rec   *verifiedRecord // set by the checkout
	lock  *os.File        // repo/.lock, shared: prune does not run meanwhile
	dir   *os.File        // uncompressed-objects-cache

	stageOnce sync.Once
	stage     *tmpdir.Dir // the pending area new entries are staged in
	stageFd   int         // stage, open
	stageErr  error
	stageMade [256]bool // XX made in stageFd; under mu

	mu     sync.Mutex
	staged map[Checksum]pendingEntry // staged entries
	jobs   map[Checksum]*inflight
	bad    map[Checksum]bool // entries found corrupt

	// off: stop adding entries (the checkout is on another filesystem).
	off atomic.Bool
	// byFd: link through /proc/self/fd (procfs is mounted).
	byFd bool
	// prefixes: the XX directories the cache had when opened. An entry
	// elsewhere is not looked for: with an empty cache, that lookup was
	// one failed openat per file. One made meanwhile by another process
	// only costs this checkout the entry.
	prefixes [256]bool
}

// uncompressedCacheEnabled reports whether a checkout with o uses the
// cache, by ostree's rules.
func (r *Repo) uncompressedCacheEnabled(o CheckoutOptions) bool {
	if r.mode != ModeArchive || !o.User || o.DisableCache {
		return false
	}
	if on, err := r.config.Bool("core", "enable-uncompressed-cache", true); err != nil || !on {
		return false
	}
	return unix.Access(r.path, unix.W_OK) == nil
}

// openUncompressedCache takes the repository's lock shared and opens the
// cache directory, creating it. A nil cache and no error: a read-only
// repository, checked out without the cache, as ostree does.
func (r *Repo) openUncompressedCache(ctx context.Context, fsync bool) (*ucache, error) {
	lock, err := r.lockRepo(ctx, tmpdir.Shared)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, nil
		}
		return nil, err
	}
	p := filepath.Join(r.path, uncompressedCacheDir)
	if err := os.Mkdir(p, 0o775); err != nil && !errors.Is(err, fs.ErrExist) {
		lock.Close()
		if errors.Is(err, fs.ErrPermission) {
			return nil, nil
		}
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	dir, err := os.OpenFile(p, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	u := &ucache{r: r, ctx: ctx, fsync: fsync, lock: lock, dir: dir, stageFd: -1,
		staged: map[Checksum]pendingEntry{}, bad: map[Checksum]bool{}, jobs: map[Checksum]*inflight{}, byFd: tmpfileLinkable()}
	// What earlier checkouts left pending first: this one may link it.
	// Publishing is best-effort: an entry it fails to add only costs a
	// later checkout the writing of that file.
	if _, err := r.publishPending(ctx); err != nil && ctx.Err() != nil {
		u.finish(false)
		return nil, err
	}
	names, err := dir.Readdirnames(-1)
	if err != nil {
		u.finish(false)
		return nil, fmt.Errorf("list %s: %w", p, err)
	}
	for _, n := range names {
		if b, err := hex.DecodeString(n); err == nil && len(b) == 1 {
			u.prefixes[b[0]] = true
		}
	}
	return u, nil
}

// mayHave reports whether c's entry is worth looking for.
func (u *ucache) mayHave(c Checksum) bool { return u.prefixes[c[0]] }

// openWhole opens c's .filez, of an archive repository, by descriptor
// and reads it whole, as OpenFile does, without an *os.File, whose setup
// costs several system calls per file. All nil: too large to read whole;
// use OpenFile.
//
// With rec, a .filez the verified-objects record vouches for (it looks as
// it did when its payload hashed to c, see verifiedrecord.go) is not
// hashed again: the reader still checks the DEFLATE stream and the
// payload's size. Else vouch, if not nil, is what the .filez looked like
// before and after it was read, past the racy window: the caller records
// it once the reader has verified the payload.
//
// objFd, if not -1, is the objects directory open: the object is opened
// relative to it, a lookup of two names rather than of the whole path.
func (r *Repo) openWhole(objFd int, c Checksum, rec *verifiedRecord) (fi *FileInfo, rc *verifyReader, vouch *vrStat, err error) {
	name := c.String() + "." + ObjFile.Ext()
	at, p := unix.AT_FDCWD, r.objectPath(c, ObjFile)
	if objFd >= 0 {
		at, p = objFd, p[len(r.objects)+1:]
	}
	fd, err := unix.Openat(at, p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil, nil, missing(c, ObjFile)
	}
	if err != nil {
		return nil, nil, nil, &ObjectError{name, err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, nil, nil, &ObjectError{name, err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size > maxWholeFile {
		return nil, nil, nil, nil
	}
	s := vrStatOf(&st)
	trusted := false
	if rec != nil {
		if was, ok := rec.lookup(c, vrArchive); ok && was == s {
			trusted = true
		} else if ok {
			rec.forget(c, vrArchive)
		}
	}
	fi, body, ok, err := openArchiveWhole(fd, st.Size)
	switch {
	case !ok:
		return nil, nil, nil, nil
	case err != nil:
		return nil, nil, nil, &ObjectError{name, err}
	}
	if msg := fi.validate(); msg != "" {
		releaseBody(body)
		return nil, nil, nil, corruptf(c, ObjFile, "%s", msg)
	}
	if rec != nil && !trusted && !s.racy() {
		// The bytes are in memory now: what the reader hashes is what
		// the file held while it looked like s.
		var after unix.Stat_t
		if unix.Fstat(fd, &after) == nil && vrStatOf(&after) == s {
			vouch = &s
		}
	}
	return fi, verifying(c, fi, body, nil, !trusted), vouch, nil
}

// ucacheable reports whether a file of fi goes through the cache.
func ucacheable(fi *FileInfo) bool {
	return !fi.IsSymlink() && fi.Size > 0 && fi.Mode&unix.S_IRUSR != 0
}

// ucacheMode is the permission bits of fi's cache entry and user-mode
// checkout.
func ucacheMode(fi *FileInfo) uint32 {
	return fi.Mode & 0o7777 &^ (unix.S_ISUID | unix.S_ISGID)
}

// entryName is c's entry relative to the cache directory.
func entryName(c Checksum) string {
	s := c.String()
	return s[:2] + "/" + s[2:] + ".file"
}

// link hardlinks c's entry as name in dirFd once it is verified. false,
// nil: no usable entry (missing, corrupt, or not linkable here); the
// caller writes the file.
func (u *ucache) link(dirFd int, name string, c Checksum, fi *FileInfo) (bool, error) {
	fd, err := unix.Openat(int(u.dir.Fd()), entryName(c), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		// A symlink (ELOOP) or anything else odd is a bad entry.
		u.markBad(c)
		return false, nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, fmt.Errorf("stat cache entry %s: %w", entryName(c), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || uint64(st.Size) != fi.Size || st.Mode&0o7777 != ucacheMode(fi) {
		u.markBad(c)
		return false, nil
	}
	ok, err := entryMatches(fd, c, fi)
	if err != nil {
		return false, fmt.Errorf("read cache entry %s: %w", entryName(c), err)
	}
	if !ok {
		u.markBad(c)
		return false, nil
	}
	// Link the inode just verified, not whatever the name holds now.
	if u.byFd {
		err = linkTmpfile(fd, dirFd, name)
	} else {
		err = unix.Linkat(int(u.dir.Fd()), entryName(c), dirFd, name, 0)
		if err == nil {
			var lst unix.Stat_t
			if err := unix.Fstatat(dirFd, name, &lst, unix.AT_SYMLINK_NOFOLLOW); err != nil || lst.Ino != st.Ino || lst.Dev != st.Dev {
				// Replaced meanwhile: write the file instead.
				unix.Unlinkat(dirFd, name, 0)
				return false, nil
			}
		}
	}
	switch {
	case err == nil:
		u.record(fd, c, &st)
		return true, nil
	case errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EMLINK):
		return false, nil
	default:
		return false, fmt.Errorf("link %s from the uncompressed-objects cache: %w", name, err)
	}
}

// record notes in the verified-objects record that the entry fd, which
// looked like st when it was hashed, matches c, if it has not changed
// since. With fsync on, the entry is flushed first: the record must not
// outlive, in a crash, the bytes it vouches for.
func (u *ucache) record(fd int, c Checksum, st *unix.Stat_t) {
	if u.rec == nil {
		return
	}
	var now unix.Stat_t
	if unix.Fstat(fd, &now) != nil || vrStatOf(&now) != vrStatOf(st) || vrStatOf(st).racy() {
		return
	}
	if u.fsync && unix.Fdatasync(fd) != nil {
		return
	}
	u.rec.put(c, vrCacheEntry, vrStatOf(st))
}

// linkRecorded links c's entry as name in dirFd if it still looks as s
// says it did when it hashed to c (see verifiedrecord.go), without
// reading it. false, nil: it does not; the caller verifies it by
// reading. The object must still be in the repository, as it must for
// ostree's checkout.
func (u *ucache) linkRecorded(dirFd int, name string, c Checksum, s vrStat) (bool, error) {
	var obj unix.Stat_t
	if err := unix.Fstatat(unix.AT_FDCWD, u.r.objectPath(c, ObjFile), &obj, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, missing(c, ObjFile)
		}
		return false, &ObjectError{c.String() + "." + ObjFile.Ext(), err}
	}
	if err := unix.Linkat(int(u.dir.Fd()), entryName(c), dirFd, name, 0); err != nil {
		return false, nil // the caller finds out why, and says so
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirFd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Unlinkat(dirFd, name, 0)
		return false, fmt.Errorf("stat %s: %w", name, err)
	}
	if vrStatOf(&st) != s {
		if err := unix.Unlinkat(dirFd, name, 0); err != nil {
			return false, fmt.Errorf("unlink %s: %w", name, err)
		}
		u.rec.forget(c, vrCacheEntry)
		return false, nil
	}
	return true, nil
}

// stat reads the header of c's .filez, the only part a cache hit needs,
// with plain system calls (an *os.File costs several more per file). A
// symlink is verified, as StatFile does.
func (u *ucache) stat(c Checksum) (*FileInfo, error) {
	p := u.r.objectPath(c, ObjFile)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, missing(c, ObjFile)
	}
	if err != nil {
		return nil, &ObjectError{c.String() + "." + ObjFile.Ext(), err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &ObjectError{c.String() + "." + ObjFile.Ext(), err}
	}
	var small [4096]byte
	b := small[:min(int64(len(small)), st.Size)]
	if err := preadFull(fd, b, 0); err != nil {
		return nil, corruptf(c, ObjFile, "reading the archive header: %v", err)
	}
	if len(b) < 8 {
		return nil, corruptf(c, ObjFile, "truncated archive header")
	}
	n, err := archiveHeaderLen(b[:8], st.Size)
	if err != nil {
		return nil, &ObjectError{c.String() + "." + ObjFile.Ext(), err}
	}
	hb := b[8:]
	if int64(len(hb)) >= n {
		hb = hb[:n]
	} else {
		hb = make([]byte, n)
		if err := preadFull(fd, hb, 8); err != nil {
			return nil, corruptf(c, ObjFile, "reading the archive header: %v", err)
		}
	}
	fi, err := archiveFileInfo(hb, st.Size)
	if err != nil {
		return nil, &ObjectError{c.String() + "." + ObjFile.Ext(), err}
	}
	if msg := fi.validate(); msg != "" {
		return nil, corruptf(c, ObjFile, "%s", msg)
	}
	if fi.IsSymlink() {
		if got := Checksum(sha256.Sum256(contentStreamPrefix(fi))); got != c {
			return nil, corruptf(c, ObjFile, "symlink to %q hashes to %s", fi.Target, got)
		}
	}
	return fi, nil
}

// preadFull fills b from fd at off.
func preadFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pread(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// entryMatches hashes c's header and the file fd holds, as the object's
// checksum is computed.
func entryMatches(fd int, c Checksum, fi *FileInfo) (bool, error) {
	h := sha256.New()
	h.Write(contentStreamPrefix(fi))
	buf := bufpool.Get(256 << 10)
	defer bufpool.Put(buf)
	var n uint64
	for {
		k, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, err
		}
		if k == 0 {
			break
		}
		h.Write(buf[:k])
		n += uint64(k)
		if n > fi.Size {
			return false, nil
		}
	}
	var got Checksum
	h.Sum(got[:0])
	return n == fi.Size && got == c, nil
}

func (u *ucache) markBad(c Checksum) {
	u.mu.Lock()
	u.bad[c] = true
	u.mu.Unlock()
}

// inflight is a new entry being written by one file of the checkout.
type inflight struct {
	done chan struct{} // closed once written, or failed
	ok   bool          // staged: linkStaged links it
}

// claim returns c's new entry and whether the caller is to write it;
// the others wait for done.
func (u *ucache) claim(c Checksum) (*inflight, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if j, ok := u.jobs[c]; ok {
		return j, false
	}
	j := &inflight{done: make(chan struct{})}
	u.jobs[c] = j
	return j, true
}

// linkStaged links c's entry staged by this checkout as name in dirFd:
// written from a verified object by this process, in its locked
// directory.
func (u *ucache) linkStaged(dirFd int, name string, c Checksum) (bool, error) {
	err := unix.Linkat(u.stageFd, entryName(c), dirFd, name, 0)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EMLINK):
		return false, nil
	default:
		return false, fmt.Errorf("link %s from the staged cache entry: %w", name, err)
	}
}

// add stages the finished, verified file fd (c's content, mode already
// set) to become c's entry when the checkout finishes; false: not staged
// (the checkout is not on the repository's filesystem).
func (u *ucache) add(fd int, c Checksum) (bool, error) {
	if !u.reserve(c) {
		return false, nil
	}
	u.stageOnce.Do(u.allocate)
	if u.stageErr != nil {
		u.forget(c)
		return false, u.stageErr
	}
	err := u.stageDir(c[0])
	if err == nil {
		err = linkTmpfile(fd, u.stageFd, entryName(c))
	}
	if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EMLINK) || errors.Is(err, unix.ENOENT) {
		// ENOENT: no procfs to name the file by its descriptor.
		u.off.Store(true)
		u.forget(c)
		return false, nil
	}
	if err != nil {
		u.forget(c)
		return false, fmt.Errorf("stage %s for the uncompressed-objects cache: %w", c, err)
	}
	u.staging(fd, c)
	return true, nil
}

// staging notes what c's staged entry, fd, looks like once written:
// one that looks otherwise when the entry is to be published was
// changed meanwhile (through the checkout's file, its hardlink), and is
// not published.
func (u *ucache) staging(fd int, c Checksum) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return // zero: never published
	}
	u.mu.Lock()
	if e, ok := u.staged[c]; ok {
		e.st = vrStatOf(&st)
		u.staged[c] = e
	}
	u.mu.Unlock()
}

// reserve claims c's entry for this checkout to stage; false: the cache
// takes no more entries, or c's is staged already.
func (u *ucache) reserve(c Checksum) bool {
	if u.off.Load() {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, dup := u.staged[c]; dup {
		return false
	}
	u.staged[c] = pendingEntry{c: c, replace: u.bad[c]}
	return true
}

// forget drops what reserve claimed: nothing of c is to be published.
func (u *ucache) forget(c Checksum) {
	u.mu.Lock()
	delete(u.staged, c)
	u.mu.Unlock()
}

// create opens c's new entry, to be written, in the staging directory,
// with mode (less the umask; moded: that is mode). fd -1 and no error:
// not staged, the cache takes no more entries or has c's already.
func (u *ucache) create(c Checksum, mode uint32) (fd int, moded bool, err error) {
	if !u.reserve(c) {
		return -1, false, nil
	}
	u.stageOnce.Do(u.allocate)
	err = u.stageErr
	if err == nil {
		err = u.stageDir(c[0])
	}
	m := uint32(0o600)
	if mode&^0o777 == 0 && mode&processUmask() == 0 {
		m = mode
	}
	if err == nil {
		fd, err = rawOpenat(u.stageFd, entryName(c), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, m)
	}
	if err != nil {
		u.forget(c)
		return -1, false, fmt.Errorf("stage %s for the uncompressed-objects cache: %w", c, err)
	}
	return fd, m == mode, nil
}

// unstage drops c's staged entry, not to be published: its writing
// failed.
func (u *ucache) unstage(c Checksum) {
	unix.Unlinkat(u.stageFd, entryName(c), 0)
	u.forget(c)
}

// allocate takes a pending area of its own under tmp/, new: one is
// never reused, so it holds nothing but this checkout's entries.
func (u *ucache) allocate() {
	bootID, err := ucacheBootID()
	if err != nil {
		u.stageErr = err
		return
	}
	d, err := tmpdir.Allocate(u.ctx, filepath.Join(u.r.path, "tmp"), tmpdir.Pending, bootID)
	if err != nil {
		u.stageErr = fmt.Errorf("uncompressed-objects cache: %w", err)
		return
	}
	fd, err := unix.Open(d.Path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		d.Remove()
		u.stageErr = fmt.Errorf("open %s: %w", d.Path, err)
		return
	}
	u.stage, u.stageFd = d, fd
}

// stageDir makes the staging directory of the entries whose checksum
// starts with the byte b, once.
func (u *ucache) stageDir(b byte) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stageMade[b] {
		return nil
	}
	xx := hex.EncodeToString([]byte{b})
	if err := unix.Mkdirat(u.stageFd, xx, 0o775); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("uncompressed-objects cache: mkdir %s: %w", xx, err)
	}
	u.stageMade[b] = true
	return nil
}

// finish leaves the staged entries pending (commit true), for a later
// process to publish, or drops them, and releases the cache. With fsync
// off, nothing is to be made durable first: they are published at once.
func (u *ucache) finish(commit bool) error {
	defer u.lock.Close()
	defer u.dir.Close()
	if u.stage == nil {
		return nil
	}
	defer unix.Close(u.stageFd)
	if !commit || len(u.staged) == 0 {
		u.stage.Remove()
		return nil
	}
	es := make([]pendingEntry, 0, len(u.staged))
	for _, e := range u.staged {
		es = append(es, e)
	}
	if !u.fsync {
		_, err := publishEntries(u.stageFd, int(u.dir.Fd()), es, false)
		if rerr := u.stage.Remove(); err == nil && rerr != nil {
			err = fmt.Errorf("uncompressed-objects cache: %w", rerr)
		}
		return err
	}
	if err := writeManifest(u.stageFd, es); err != nil {
		u.stage.Remove()
		return fmt.Errorf("uncompressed-objects cache: %w", err)
	}
	if err := u.stage.Release(); err != nil {
		return fmt.Errorf("uncompressed-objects cache: %w", err)
	}
	return nil
}

// DropStaleUncompressed publishes the entries checkouts left pending,
// then removes the uncompressed-objects cache entries whose content
// object is no longer in the repository. Prune calls it after its sweep,
// with repo/.lock held exclusively, so no checkout is filling the cache
// meanwhile (nor holding a pending area). Entries still linked from
// checkouts are removed too: the checkouts keep their files. It returns
// how many entries went.
func (r *Repo) DropStaleUncompressed(ctx context.Context) (int, error) {
	if _, err := r.publishPending(ctx); err != nil {
		return 0, fmt.Errorf("prune the uncompressed-objects cache: %w", err)
	}
	root := filepath.Join(r.path, uncompressedCacheDir)
	dirs, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("prune the uncompressed-objects cache: %w", err)
	}
	n := 0
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if !d.IsDir() || len(d.Name()) != 2 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(root, d.Name()))
		if err != nil {
			return n, fmt.Errorf("prune the uncompressed-objects cache: %w", err)
		}
		for _, e := range ents {
			base, ok := strings.CutSuffix(e.Name(), ".file")
			c, err := ParseChecksum(d.Name() + base)
			if !ok || err != nil {
				continue // not an entry: leave it
			}
			if have, err := r.HasObject(c, ObjFile); err != nil || have {
				continue
			}
			p := filepath.Join(root, d.Name(), e.Name())
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, fmt.Errorf("prune the uncompressed-objects cache: %w", err)
			}
			n++
		}
	}
	return n, nil
}
