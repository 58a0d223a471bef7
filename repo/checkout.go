package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/bufpool"
)

// CheckoutOptions controls Checkout.
type CheckoutOptions struct {
	// User checks out as an unprivileged user would: no ownership, no
	// xattrs, no setuid/setgid bits.
	User bool
	// DisableCache neither uses nor fills the uncompressed-objects cache
	// of an archive repository (see uncompressedcache.go).
	DisableCache bool
	// NoFsync skips the flush that makes new cache entries durable before
	// they are named, as `ostree checkout --fsync=false` does; so does
	// the repository's core.fsync=false. The checkout's own files are
	// never flushed, by ostree either.
	NoFsync bool
	// Overwrite: what to do with entries already in dest, which then may
	// exist (see Overwrite).
	Overwrite Overwrite
	// Whiteouts processes Docker/OCI whiteouts: a file ".wh.NAME" removes
	// NAME instead of being written, ".wh..wh..opq" empties its directory
	// first; a union then also replaces directories.
	Whiteouts bool
	// RequireHardlinks fails instead of copying a file it cannot
	// hardlink (ostree's no_copy_fallback); empty files and user-mode
	// symlinks are still copied.
	RequireHardlinks bool
	// ForceCopy never hardlinks, and leaves directories' mtimes alone.
	ForceCopy bool
	// BareUserOnlyDirs drops directory mode bits outside 0775.
	BareUserOnlyDirs bool
	// Skip, if set, leaves out every entry whose path it accepts: the
	// path from the checked-out root, "/" first, a directory's ending in
	// "/" (the root is "/").
	Skip func(path string) bool
}

// Checkout writes the tree at n (a directory or a file of a commit) to
// dest, which must not exist unless o.Overwrite allows it; a file is
// written into dest, a directory then. Every file is created relative to its
// parent's descriptor with O_EXCL and O_NOFOLLOW, so no symlink, from the
// commit or planted meanwhile, can redirect a write outside dest.
func (r *Repo) Checkout(ctx context.Context, n Node, dest string, o CheckoutOptions) error {
	parent, err := os.Open(filepath.Dir(dest))
	if err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	defer parent.Close()
	if r.mode == ModeBareUserOnly {
		o.User = true // as ostree: nothing else makes sense
	}
	if o.ForceCopy {
		o.DisableCache = true
	}
	c := &checkout{r: r, ctx: ctx, o: o, root: n.Path}
	c.noTmpfile.Store(!tmpfileLinkable())
	c.objFd = -1
	if r.mode == ModeArchive {
		// Not needed: without it, objects are opened by their full path.
		if fd, err := unix.Open(r.objects, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			c.objFd = fd
			defer unix.Close(fd)
		}
	}
	c.hardlinkable = (r.mode == ModeBare && !o.User) || ((r.mode == ModeBareUser || r.mode == ModeBareUserOnly) && o.User)
	c.hardlink = c.hardlinkable && !o.ForceCopy
	if r.uncompressedCacheEnabled(o) {
		fsync := !o.NoFsync
		if on, err := r.config.Bool("core", "fsync", true); err == nil && !on {
			fsync = false
		}
		if c.cache, err = r.openUncompressedCache(ctx, fsync); err != nil {
			return fmt.Errorf("checkout to %s: %w", dest, err)
		}
		var ps, rs unix.Stat_t
		if c.cache != nil && unix.Fstat(int(parent.Fd()), &ps) == nil && unix.Fstat(int(c.cache.dir.Fd()), &rs) == nil && ps.Dev != rs.Dev {
			// On another filesystem: no entry could be the checkout's
			// file, so none is added, as when a link tells (see add).
			c.cache.off.Store(true)
		}
	}
	if c.hardlink || c.cache != nil || r.mode == ModeArchive {
		c.rec = r.openVerifiedRecord()
		if c.cache != nil {
			c.cache.rec = c.rec
		}
	}
	name := filepath.Base(dest)
	if n.IsDir {
		c.walk(int(parent.Fd()), name, n, checkoutWorkers)
		err = c.ferr
	} else {
		err = c.fileInto(int(parent.Fd()), name, n)
	}
	if c.cache != nil {
		if cerr := c.cache.finish(err == nil); err == nil && cerr != nil {
			return fmt.Errorf("checkout to %s is complete, but its files were not added to the cache (--disable-cache skips it): %w", dest, cerr)
		}
	}
	if c.rec != nil {
		// Also after a failure: it drops what was found corrupt.
		if rerr := c.rec.save(ctx); err == nil && rerr != nil {
			return fmt.Errorf("checkout to %s is complete, but the verified-objects record was not updated: %w", dest, rerr)
		}
	}
	if err != nil {
		return fmt.Errorf("checkout to %s: %w", dest, err)
	}
	return nil
}

// checkoutWorkers is how many goroutines a checkout writes with (see
// checkout_walk.go): one per core keeps them all busy, inflating and
// hashing; the files are read from and written to the page cache. Tests
// raise it.
var checkoutWorkers = runtime.NumCPU()

type checkout struct {
	r    *Repo
	ctx  context.Context
	o    CheckoutOptions
	root string // the checked-out node's path in the commit
	// hardlinkable: the repository's mode matches the checkout's, so
	// its objects can be the files; hardlink: and they are linked.
	hardlinkable bool
	hardlink     bool
	objFd        int             // the objects directory, or -1 (see openWhole)
	cache        *ucache         // nil: no uncompressed-objects cache
	rec          *verifiedRecord // nil: nothing is linked or read from a record
	pool         walkPool        // the walk's jobs

	// The failure to report: of several, the first in the order ostree
	// goes (see walkKey); failed says there is one.
	mu     sync.Mutex
	ferr   error
	fkey   walkKey
	failed atomic.Bool
	// noTmpfile: create files by name, O_TMPFILE is not supported here.
	noTmpfile atomic.Bool
}

// fileInto checks out the file n into the directory name in parentFd,
// made if missing, as ostree checks out a file.
func (c *checkout) fileInto(parentFd int, name string, n Node) error {
	if err := unix.Mkdirat(parentFd, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return &CheckoutMsgError{Msg: "mkdirat: " + strerror(err), Err: err}
	}
	fd, err := unix.Openat(parentFd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer unix.Close(fd)
	c.root = "" // no skip list for a file alone, as ostree
	c.o.Skip = nil
	return c.file(fd, n.Name(), n)
}

// whiteout processes the file f, named as a whiteout, in the directory
// dirFd, whose files before f are written (one job writes a directory's
// files in order when whiteouts are processed; see walkDir); done false:
// it is a symlink, an ordinary file. As ostree, in name order: a file of
// this layer that sorts before it and is its target is written and then
// removed.
func (c *checkout) whiteout(dirFd int, f Node) (done bool, err error) {
	if c.skipped(f) {
		return true, nil
	}
	fi, err := c.r.StatFile(f.Content)
	if err != nil {
		return false, err
	}
	if fi.IsSymlink() {
		return false, nil
	}
	target := strings.TrimPrefix(f.Name(), whiteoutPrefix)
	if target == "" {
		return false, &CheckoutMsgError{Msg: "Invalid empty whiteout ''"}
	}
	return true, removeAt(dirFd, target)
}

// linkVerified links n as name in dirFd if the verified-objects record
// vouches for the file to link; false, nil: the caller checks out n.
// It costs a few system calls and no reading, so the walk calls it
// itself rather than hand n to a goroutine.
func (c *checkout) linkVerified(dirFd int, name string, n Node, p placing) (bool, error) {
	switch {
	case c.hardlink:
		return c.place(dirFd, name, n, p, func(to string) (bool, error) { return c.linkRecorded(dirFd, to, n) })
	case c.cache != nil:
		// Where the cache has no directory for the entry (an emptied
		// cache, whose record outlived it), trying the link cost a stat
		// of the object and a failed link per file, for nothing.
		if !c.cache.mayHave(n.Content) {
			return false, nil
		}
		if s, ok := c.rec.lookup(n.Content, vrCacheEntry); ok {
			return c.place(dirFd, name, n, p, func(to string) (bool, error) {
				return c.cache.linkRecorded(dirFd, to, n.Content, s)
			})
		}
	}
	return false, nil
}

// prepare does what comes before writing the file n as name in dirFd:
// skip true means write nothing (skip-listed, or an existing file kept);
// otherwise p says how to take the name.
func (c *checkout) prepare(dirFd int, name string, n Node) (p placing, skip bool, err error) {
	if c.skipped(n) {
		return p, true, nil
	}
	if !c.o.RequireHardlinks && c.o.Overwrite == OverwriteNone {
		return p, false, nil
	}
	fi, rc, err := c.r.OpenFile(n.Content)
	if err != nil {
		return p, false, err
	}
	rc.Close()
	copied := (!fi.IsSymlink() && fi.Size == 0) || (c.o.User && !fi.IsSymlink() && fi.Mode&unix.S_IRUSR == 0)
	userRepo := c.r.mode == ModeBareUser || c.r.mode == ModeBareUserOnly
	if c.o.RequireHardlinks && !copied && !c.o.ForceCopy && !c.hardlinkable && !(userRepo && fi.IsSymlink()) {
		msg := "Bare repository mode cannot hardlink in user checkout mode"
		if userRepo {
			msg = "User repository mode requires user checkout mode to hardlink"
		}
		return p, false, &CheckoutMsgError{Msg: msg}
	}
	p.linked = (c.hardlink || c.cache != nil) && !copied && !fi.IsSymlink()
	if fi.IsSymlink() && c.hardlink && c.r.mode == ModeBare {
		p.linked = true // the object is the symlink
	}
	return c.resolveExisting(dirFd, name, n, fi, p)
}

func (c *checkout) file(dirFd int, name string, n Node) error {
	p, skip, err := c.prepare(dirFd, name, n)
	if skip || err != nil {
		return err
	}
	if ok, err := c.linkVerified(dirFd, name, n, p); ok || err != nil {
		return err
	}
	return c.fileUnrecorded(dirFd, name, n, p)
}

// fileUnrecorded checks out n, verifying what it links or copies by
// reading it.
func (c *checkout) fileUnrecorded(dirFd int, name string, n Node, p placing) error {
	var (
		job    *inflight // this file's content becomes a new cache entry
		opened *FileInfo // the object, if already open as rc
		rc     io.ReadCloser
		// The .filez as read, to record once its payload hashed right.
		vouch *vrStat
		vr    *verifyReader
	)
	defer func() {
		if vouch != nil && vr.hashedRight() {
			c.rec.put(n.Content, vrArchive, *vouch)
		}
		if rc != nil {
			rc.Close()
		}
	}()
	openWhole := func() (err error) {
		opened, vr, vouch, err = c.r.openWhole(c.objFd, n.Content, c.rec)
		if vr != nil {
			rc = vr
		}
		return err
	}
	if c.cache != nil {
		// Only the header first where an entry may be: a verified entry
		// spares the inflating. Elsewhere, the whole object at once.
		var (
			fi  *FileInfo
			err error
		)
		if c.cache.mayHave(n.Content) {
			fi, err = c.cache.stat(n.Content)
		} else if err = openWhole(); opened == nil && err == nil {
			fi, err = c.cache.stat(n.Content) // too large to hold
		} else {
			fi = opened
		}
		if err != nil {
			return err
		}
		if ucacheable(fi) {
			if opened == nil {
				ok, err := c.place(dirFd, name, n, p, func(to string) (bool, error) { return c.cache.link(dirFd, to, n.Content, fi) })
				if ok || err != nil {
					return err
				}
			}
			// Files of one content share its new entry, as in ostree's
			// checkout: one writes it, the others link it once staged.
			j, owner := c.cache.claim(n.Content)
			if !owner {
				<-j.done
				if j.ok {
					ok, err := c.place(dirFd, name, n, p, func(to string) (bool, error) { return c.cache.linkStaged(dirFd, to, n.Content) })
					if ok || err != nil {
						return err
					}
				}
			} else {
				defer close(j.done)
				job = j
			}
		}
	}
	if opened == nil && c.r.mode == ModeArchive {
		// The whole object at once, by descriptor, as above: without a
		// cache, or where its entry was missing or bad.
		if err := openWhole(); err != nil {
			return err
		}
	}
	// What the object looks like before it is hashed, to record it.
	var (
		pre    unix.Stat_t
		preXat [8]byte
		preOK  bool
	)
	if c.hardlink {
		p := c.r.objectPath(n.Content, ObjFile)
		if unix.Fstatat(unix.AT_FDCWD, p, &pre, unix.AT_SYMLINK_NOFOLLOW) == nil {
			var err error
			preXat, err = xattrDigest(p)
			preOK = err == nil
		}
	}
	fi := opened
	if fi == nil {
		var err error
		if fi, rc, err = c.r.OpenFile(n.Content); err != nil {
			return err
		}
	}
	if fi.IsSymlink() {
		// Reading the empty payload to its end verifies the target.
		if err := c.verify(rc); err != nil {
			return err
		}
		if c.hardlink && c.r.mode == ModeBare {
			// As ostree: a bare repository's symlink object is the
			// symlink, with its owner; linkat links it, not its target.
			if ok, err := c.place(dirFd, name, n, p, c.linkObject(dirFd, name, n, nil)); ok || err != nil {
				return err
			}
		}
		return c.symlink(dirFd, name, n, fi, p)
	}
	// Empty files are copied, never linked, as ostree does: one object
	// shared by every empty file would reach the hardlink limit.
	if c.hardlink && fi.Size > 0 {
		// The object is the file, with the right metadata already.
		if err := c.verify(rc); err != nil {
			return err
		}
		linked := func(to string) {
			var post unix.Stat_t
			if preOK && unix.Fstatat(dirFd, to, &post, unix.AT_SYMLINK_NOFOLLOW) == nil {
				s0, s1 := vrStatOf(&pre), vrStatOf(&post)
				s0.xattrs, s1.xattrs = preXat, preXat
				if s0 == s1 {
					c.rec.put(n.Content, vrObject, s1)
				}
			}
		}
		if ok, err := c.place(dirFd, name, n, p, c.linkObject(dirFd, name, n, linked)); ok || err != nil {
			return err
		}
		rc.Close()
		var err error
		if _, rc, err = c.r.OpenFile(n.Content); err != nil {
			rc = nil
			return err
		}
	}
	_, err := c.place(dirFd, name, n, p, func(to string) (bool, error) {
		return true, c.write(dirFd, to, n, fi, rc, job)
	})
	return err
}

// linkObject returns the placing step that hardlinks n's object as a
// name in dirFd, calling linked, if not nil, with that name once done;
// false, nil: it cannot be linked here and is to be copied.
func (c *checkout) linkObject(dirFd int, name string, n Node, linked func(to string)) func(to string) (bool, error) {
	return func(to string) (bool, error) {
		err := unix.Linkat(unix.AT_FDCWD, c.r.objectPath(n.Content, ObjFile), dirFd, to, 0)
		if err == nil {
			if linked != nil {
				linked(to)
			}
			return true, nil
		}
		if c.o.RequireHardlinks || (!errors.Is(err, unix.EXDEV) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EMLINK)) {
			loose := strings.TrimPrefix(c.r.objectPath(n.Content, ObjFile), c.r.objects+"/")
			return false, &CheckoutMsgError{Msg: fmt.Sprintf("Hardlinking %s to %s: %s", loose, name, strerror(err)), Err: fmt.Errorf("link %s: %w", n.Path, err)}
		}
		return false, nil
	}
}

// symlink creates the symlink n as name in dirFd. As ostree: one that
// replaces an entry of a union unlinks it first, and keeps the owner
// and xattrs symlink(2) gave it; a new one gets the object's.
func (c *checkout) symlink(dirFd int, name string, n Node, fi *FileInfo, p placing) error {
	if p.over {
		if err := unlinkForSymlink(dirFd, name, n); err != nil {
			return err
		}
	}
	if err := unix.Symlinkat(fi.Target, dirFd, name); err != nil {
		return fmt.Errorf("symlink %s: %w", n.Path, err)
	}
	if c.o.User || p.replaced() {
		return nil
	}
	if err := unix.Fchownat(dirFd, name, int(fi.UID), int(fi.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %s: %w", n.Path, err)
	}
	if len(fi.Xattrs) == 0 {
		return nil
	}
	// Through the directory's descriptor, not following the symlink.
	at := "/proc/self/fd/" + strconv.Itoa(dirFd) + "/" + name
	for _, x := range fi.Xattrs {
		if err := unix.Lsetxattr(at, x.Name, x.Value, 0); err != nil {
			return fmt.Errorf("setxattr %s on %s: %w", x.Name, n.Path, err)
		}
	}
	return nil
}

// linkRecorded hardlinks n's object as name in dirFd if the
// verified-objects record says it hashed to its checksum and it still
// looks as it did then (see verifiedrecord.go). false, nil: not
// recorded, or no longer matching; the caller verifies it by reading.
func (c *checkout) linkRecorded(dirFd int, name string, n Node) (bool, error) {
	s, ok := c.rec.lookup(n.Content, vrObject)
	if !ok || s.mode&unix.S_IFMT != unix.S_IFREG || s.size == 0 {
		return false, nil
	}
	p := c.r.objectPath(n.Content, ObjFile)
	xd, err := xattrDigest(p)
	if err != nil || xd != s.xattrs {
		c.rec.forget(n.Content, vrObject)
		return false, nil
	}
	if err := unix.Linkat(unix.AT_FDCWD, p, dirFd, name, 0); err != nil {
		return false, nil // the caller finds out why, and says so
	}
	// The inode now linked is the one to compare: the name could have
	// been replaced since it was looked at.
	var st unix.Stat_t
	if err := unix.Fstatat(dirFd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Unlinkat(dirFd, name, 0)
		return false, fmt.Errorf("stat %s: %w", n.Path, err)
	}
	got := vrStatOf(&st)
	got.xattrs = xd
	if got != s {
		if err := unix.Unlinkat(dirFd, name, 0); err != nil {
			return false, fmt.Errorf("unlink %s: %w", n.Path, err)
		}
		c.rec.forget(n.Content, vrObject)
		return false, nil
	}
	return true, nil
}

// write creates name in dirFd with the payload rc yields, verified at
// its end, and fi's metadata; with a job, the new file is also staged to
// become the object's cache entry.
func (c *checkout) write(dirFd int, name string, n Node, fi *FileInfo, rc io.Reader, job *inflight) error {
	mode := fi.Mode & 0o7777
	if c.o.User {
		mode &^= unix.S_ISUID | unix.S_ISGID
	}
	if job != nil {
		if done, err := c.writeStaged(dirFd, name, n, mode, rc, job); done || err != nil {
			return err
		}
	}
	fd, named, moded, err := c.create(dirFd, name, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", n.Path, err)
	}
	defer rawClose(fd)
	// An unnamed file is named last; a named one must go if it fails.
	ok := false
	if named {
		defer func() {
			if !ok {
				unix.Unlinkat(dirFd, name, 0)
			}
		}()
	}
	if err := writePayload(fd, rc); err != nil {
		return fmt.Errorf("write %s: %w", n.Path, err)
	}
	if !c.o.User {
		if err := unix.Fchown(fd, int(fi.UID), int(fi.GID)); err != nil {
			return fmt.Errorf("chown %s: %w", n.Path, err)
		}
		for _, x := range fi.Xattrs {
			if err := unix.Fsetxattr(fd, x.Name, x.Value, 0); err != nil {
				return fmt.Errorf("setxattr %s on %s: %w", x.Name, n.Path, err)
			}
		}
	}
	if err := finishFile(fd, dirFd, name, n.Path, mode, moded, named); err != nil {
		return err
	}
	ok = true
	if job != nil {
		staged, err := c.cache.add(fd, n.Content)
		job.ok = staged
		return err
	}
	return nil
}

// writeStaged writes n, whose content is to become a new cache entry, as
// that entry in the cache's staging directory, and links it as name in
// dirFd: besides the entry's name, one name made per file, where an
// unnamed file in dirFd, linked there and then into the staging
// directory, cost a link more. The entry is staged under its own name
// while it is written: the staging directory is this checkout's, and
// nothing of it is published unless every file of the checkout was
// written. done false: not staged (the cache takes no more entries);
// the caller writes the file, rc untouched.
func (c *checkout) writeStaged(dirFd int, name string, n Node, mode uint32, rc io.Reader, job *inflight) (done bool, err error) {
	u := c.cache
	fd, moded, err := u.create(n.Content, mode)
	if fd < 0 || err != nil {
		return err != nil, err
	}
	defer rawClose(fd)
	ok := false
	defer func() {
		if !ok {
			u.unstage(n.Content)
		}
	}()
	if err := writePayload(fd, rc); err != nil {
		return true, fmt.Errorf("write %s: %w", n.Path, err)
	}
	if !moded {
		if err := rawFchmod(fd, mode); err != nil {
			return true, fmt.Errorf("chmod %s: %w", n.Path, err)
		}
	}
	u.staging(fd, n.Content)
	err = linkStagedEntry(u.stageFd, entryName(n.Content), dirFd, name)
	switch {
	case err == nil:
	case errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EMLINK):
		// Not linkable there (another filesystem mounted in a union's
		// tree, say): a copy of the entry, which stays staged.
		if err := c.copyEntry(fd, dirFd, name, n, mode); err != nil {
			return true, err
		}
	default:
		return true, fmt.Errorf("create %s: %w", n.Path, err)
	}
	ok = true
	job.ok = true
	return true, nil
}

// linkStagedEntry links the staged entry name in stageFd as to in
// dirFd. Tests swap it to play a checkout it cannot be linked into.
var linkStagedEntry = func(stageFd int, name string, dirFd int, to string) error {
	return unix.Linkat(stageFd, name, dirFd, to, 0)
}

// copyEntry writes the staged entry fd, complete, as name in dirFd.
func (c *checkout) copyEntry(fd, dirFd int, name string, n Node, mode uint32) error {
	out, named, moded, err := c.create(dirFd, name, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", n.Path, err)
	}
	defer rawClose(out)
	ok := false
	if named {
		defer func() {
			if !ok {
				unix.Unlinkat(dirFd, name, 0)
			}
		}()
	}
	buf := bufpool.Get(256 << 10)
	defer bufpool.Put(buf)
	for off := int64(0); ; {
		k, err := unix.Pread(fd, buf, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read back the cache entry of %s: %w", n.Path, err)
		}
		if k == 0 {
			break
		}
		if err := writeFd(out, buf[:k]); err != nil {
			return fmt.Errorf("write %s: %w", n.Path, err)
		}
		off += int64(k)
	}
	if err := finishFile(out, dirFd, name, n.Path, mode, moded, named); err != nil {
		return err
	}
	ok = true
	return nil
}

// finishFile gives a written file fd its mode, unless it was created
// with it (moded), and its name in dirFd, unless it was created under it
// (named); path names it in errors. The link never replaces: an existing
// name fails with EEXIST, as O_EXCL|O_NOFOLLOW would.
func finishFile(fd, dirFd int, name, path string, mode uint32, moded, named bool) error {
	if !moded {
		if err := rawFchmod(fd, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	if !named {
		if err := linkTmpfile(fd, dirFd, name); err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
	}
	return nil
}

// writePayload writes the payload rc yields to fd: at once if it is
// already whole in memory.
func writePayload(fd int, rc io.Reader) error {
	if v, isV := rc.(*verifyReader); isV {
		b, whole, err := v.whole()
		if whole && err == nil {
			err = writeFd(fd, b)
		}
		if err != nil || whole {
			return err
		}
	}
	buf := bufpool.Get(256 << 10)
	defer bufpool.Put(buf)
	return copyToFd(fd, rc, buf)
}

// copyToFd writes everything r yields to fd, straight: no *os.File, whose
// setup costs several system calls per file.
func copyToFd(fd int, r io.Reader, buf []byte) error {
	for {
		n, rerr := r.Read(buf)
		if err := writeFd(fd, buf[:n]); err != nil {
			return err
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// writeFd writes b to fd.
func writeFd(fd int, b []byte) error {
	for len(b) > 0 {
		k, err := rawWrite(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

// create opens a new file to be name in dirFd: unnamed (O_TMPFILE,
// named = false) where the filesystem can, as ostree does. O_CREAT holds
// the directory's lock while the filesystem allocates the inode, which on
// ext4 can take long; the parallel writers of a checkout then spun on that
// lock, doubling the system time of `checkout -U` from an archive
// repository. O_TMPFILE allocates the inode without it, and linkat takes
// it only to add the name. moded: the file has mode already, which spares
// an fchmod: mode has no setuid, setgid or sticky bit (a chown clears the
// first two) and the umask takes none of its bits.
func (c *checkout) create(dirFd int, name string, mode uint32) (fd int, named, moded bool, err error) {
	if !c.noTmpfile.Load() {
		m := uint32(0o600)
		if mode&^0o777 == 0 && mode&processUmask() == 0 {
			m = mode
		}
		fd, err := openCheckoutTmpfile(dirFd, m)
		if err == nil {
			return fd, false, m == mode, nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) {
			return -1, false, false, err
		}
		// No O_TMPFILE here (EISDIR: a kernel that predates it).
		c.noTmpfile.Store(true)
	}
	fd, err = unix.Openat(dirFd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	return fd, true, false, err
}

// verify reads an object to its end, which checks its checksum.
func (c *checkout) verify(rc io.Reader) error {
	_, err := io.Copy(io.Discard, rc)
	return err
}
