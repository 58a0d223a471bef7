package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/tmpdir"
)

// Transaction stages objects in a directory of its own under tmp/ and
// makes them visible, with the refs that name them, only in Commit:
//
//  1. objects are written, verified, into tmp/staging-<boot>-XXXXXX, which
//     this transaction alone holds locked;
//  2. Commit flushes the filesystem (syncfs), renames each object into
//     objects/ without replacing (an identical object already there wins),
//     and flushes the filesystem again, making the renames durable;
//  3. only then are refs written, each atomically;
//  4. then the commitpartial markers of completed commits are removed.
//
// A transaction that is not committed leaves its staging directory for the
// next one to reuse; reused objects are verified again before use.
type Transaction struct {
	r        *Repo
	repoLock *os.File
	staging  *tmpdir.Dir
	stage    *stageDir // staging, open
	objects  int       // objects/, open (-1: not), for HasObject
	// xx says, per first checksum byte, whether objects/XX was found
	// missing (xxAbsent) or present (xxPresent) when first looked at, 0
	// before: see inObjects.
	xx     [256]atomic.Uint32
	bootID string
	fsync  bool
	space  *spaceBudget // what min-free-space-* leaves to content; nil: no limit
	count  txCounters
	sizes  atomic.Pointer[sizeRecorder] // nil: sizes not recorded

	mu       sync.Mutex
	refs     []refUpdate
	partials []Checksum // markers to remove once committed
	done     bool
}

type refUpdate struct {
	remote, name string
	c            Checksum
	del          bool
}

// Begin starts a transaction. It takes a shared lock on the repository
// (waiting up to core.lock-timeout-secs; ErrLocked after that) and a
// staging directory of its own. Like ostree, it measures the free space
// once: each content object staged then counts against what
// core.min-free-space-percent (default 3) or core.min-free-space-size
// leaves, and one that would not fit fails with ErrNoSpace.
func (r *Repo) Begin(ctx context.Context) (*Transaction, error) {
	fsync, err := r.config.Bool("core", "fsync", true)
	if err != nil {
		return nil, fmt.Errorf("begin transaction in %s: %w", r.path, err)
	}
	tx := &Transaction{r: r, fsync: fsync, objects: -1}
	if tx.space, err = r.newSpaceBudget(); err != nil {
		return nil, fmt.Errorf("begin transaction in %s: %w", r.path, err)
	}
	if tx.repoLock, err = r.lockRepo(ctx, tmpdir.Shared); err != nil {
		return nil, err
	}
	if tx.bootID, err = tmpdir.BootID(); err != nil {
		tx.repoLock.Close()
		return nil, fmt.Errorf("begin transaction in %s: %w", r.path, err)
	}
	tmp := filepath.Join(r.path, "tmp")
	if err := os.MkdirAll(tmp, 0o775); err != nil {
		tx.repoLock.Close()
		return nil, fmt.Errorf("begin transaction in %s: %w", r.path, err)
	}
	tx.staging, err = tmpdir.Allocate(ctx, tmp, tmpdir.Staging, tx.bootID)
	if err != nil {
		tx.repoLock.Close()
		return nil, fmt.Errorf("begin transaction in %s: %w", r.path, err)
	}
	var kept []stagedKey
	if tx.staging.Reused {
		if kept, err = tx.verifyStaged(); err != nil {
			tx.Abort()
			return nil, err
		}
	}
	if tx.stage, err = openStageDir(tx.staging.Path, kept); err != nil {
		tx.Abort()
		return nil, fmt.Errorf("begin transaction in %s: %w", r.path, err)
	}
	// HasObject looks objects up relative to this descriptor: a pull asks
	// once per object, and a path walk from / each time showed in profiles.
	if fd, err := unix.Open(r.objects, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		tx.objects = fd
	}
	return tx, nil
}

// lockRepo opens repo/.lock and locks it in the given mode, waiting up to
// core.lock-timeout-secs.
func (r *Repo) lockRepo(ctx context.Context, mode tmpdir.LockMode) (*os.File, error) {
	timeout := 300 * time.Second
	if v, ok := r.config.Get("core", "lock-timeout-secs"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("config [core] lock-timeout-secs=%s: not a number", v)
		}
		timeout = time.Duration(n) * time.Second
	}
	p := filepath.Join(r.path, ".lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o660)
	if err != nil {
		return nil, fmt.Errorf("lock repository %s: %w", r.path, err)
	}
	if err := tmpdir.Lock(ctx, f, mode, timeout); err != nil {
		f.Close()
		if errors.Is(err, tmpdir.ErrWouldBlock) {
			return nil, fmt.Errorf("lock repository %s: another process holds it (a prune?); try again later: %w: %v", r.path, ErrLocked, err)
		}
		return nil, fmt.Errorf("lock repository %s: %w", r.path, err)
	}
	return f, nil
}

// Reused reports whether the staging directory was left by an earlier,
// interrupted transaction (whose verified objects are kept).
func (tx *Transaction) Reused() bool { return tx.staging.Reused }

// stagedRel is an object's name relative to the staging directory.
func (tx *Transaction) stagedRel(c Checksum, t ObjectType) string {
	h := c.String()
	return h[:2] + "/" + h[2:] + "." + tx.r.ext(t)
}

func (r *Repo) ext(t ObjectType) string {
	if t == ObjFile && r.mode == ModeArchive {
		return "filez"
	}
	return t.Ext()
}

// HasObject reports whether the object is in objects/ or already staged by
// this transaction.
func (tx *Transaction) HasObject(c Checksum, t ObjectType) (bool, error) {
	if ok, err := tx.inObjects(c, t); ok || err != nil {
		return ok, err
	}
	return tx.stage.has(c, t), nil
}

// HasPublished reports whether the object is in objects/, as
// Repo.HasObject does, at less cost per object while the transaction is
// open: an object that is only staged by this transaction is not
// reported.
func (tx *Transaction) HasPublished(c Checksum, t ObjectType) (bool, error) {
	return tx.inObjects(c, t)
}

const (
	xxAbsent  = 1
	xxPresent = 2
)

// inObjects looks the object up in objects/. Where objects/XX did not
// exist when first looked at (a new repository, a first pull), the
// objects it would hold are taken as missing without a stat each: a pull
// asked once per object and found nothing, thousands of times. An object
// published meanwhile by another transaction is then fetched again, and
// its publication meets the one there (publishDir: first writer wins); a
// transaction's own objects reach objects/ only in Commit.
func (tx *Transaction) inObjects(c Checksum, t ObjectType) (bool, error) {
	if tx.objects < 0 {
		return tx.r.HasObject(c, t)
	}
	rel := tx.stagedRel(c, t) // objects/ has the staging directory's layout
	var st unix.Stat_t
	switch tx.xx[c[0]].Load() {
	case xxAbsent:
		return false, nil
	case 0:
		err := unix.Fstatat(tx.objects, rel[:2], &st, 0)
		if errors.Is(err, unix.ENOENT) {
			tx.xx[c[0]].Store(xxAbsent)
			return false, nil
		}
		if err != nil {
			return false, &fs.PathError{Op: "stat", Path: filepath.Join(tx.r.objects, rel[:2]), Err: err}
		}
		tx.xx[c[0]].Store(xxPresent)
	}
	switch err := unix.Fstatat(tx.objects, rel, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOENT):
		return false, nil
	default:
		return false, &fs.PathError{Op: "lstat", Path: filepath.Join(tx.r.objects, rel), Err: err}
	}
}

// closeObjects closes the descriptor of objects/, once.
func (tx *Transaction) closeObjects() {
	if tx.objects >= 0 {
		unix.Close(tx.objects)
		tx.objects = -1
	}
}

// SetRef records that a ref (remote "" = local) will point to c once the
// transaction commits.
func (tx *Transaction) SetRef(remote, name string, c Checksum) error {
	if err := ValidateRef(name); err != nil {
		return err
	}
	if remote != "" {
		if err := ValidateRemoteName(remote); err != nil {
			return err
		}
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.refs = append(tx.refs, refUpdate{remote: remote, name: name, c: c})
	return nil
}

// DeleteRef records that a ref will be deleted once the transaction commits.
func (tx *Transaction) DeleteRef(remote, name string) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.refs = append(tx.refs, refUpdate{remote: remote, name: name, del: true})
}

// MarkPartial creates state/<c>.commitpartial, before the commit object is
// written, and removes it after the transaction committed: until then the
// commit's tree may be incomplete.
func (tx *Transaction) MarkPartial(c Checksum) error {
	if err := os.MkdirAll(filepath.Join(tx.r.path, "state"), 0o775); err != nil {
		return err
	}
	f, err := os.OpenFile(tx.r.partialPath(c), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("mark commit %s partial: %w", c, err)
	}
	f.Close()
	tx.mu.Lock()
	tx.partials = append(tx.partials, c)
	tx.mu.Unlock()
	return nil
}

// KeepPartial leaves c marked partial after Commit (a metadata-only pull).
func (tx *Transaction) KeepPartial(c Checksum) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	for i, p := range tx.partials {
		if p == c {
			tx.partials = append(tx.partials[:i], tx.partials[i+1:]...)
			return
		}
	}
}

// Abort ends the transaction without publishing anything. The staging
// directory is kept, unlocked, so that the next transaction resumes from it
// — unless core.min-free-space-* refused an object: then, as in ostree, it
// is deleted, for a disk that close to its reserve is not to hold caches.
// (A write that failed with ENOSPC keeps it, as ostree does: the space is
// released with 'repofs cleanup' or when the staged objects are published.)
func (tx *Transaction) Abort() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return nil
	}
	tx.done = true
	tx.closeObjects()
	var err error
	if tx.stage != nil {
		err = tx.stage.close()
	}
	release := tx.staging.Release
	if tx.space.hasTripped() {
		release = tx.staging.Remove
	}
	if rerr := release(); err == nil {
		err = rerr
	}
	if cerr := tx.repoLock.Close(); err == nil {
		err = cerr
	}
	return err
}

// Commit publishes the staged objects and then the refs.
func (tx *Transaction) Commit(ctx context.Context) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return errors.New("transaction already ended")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := tx.publishObjects(); err != nil {
		return fmt.Errorf("commit transaction in %s: %w", tx.r.path, err)
	}
	if err := tx.stage.close(); err != nil {
		return fmt.Errorf("commit transaction in %s: %w", tx.r.path, err)
	}
	if err := tx.staging.Remove(); err != nil {
		return fmt.Errorf("commit transaction in %s: remove %s: %w", tx.r.path, tx.staging.Path, err)
	}
	tx.done = true
	tx.closeObjects()
	defer tx.repoLock.Close()
	// Every object is durable in objects/ now, so the commits are complete:
	// say so before any ref points at them, or a reader following a fresh
	// ref would find a commit still marked partial.
	for _, c := range tx.partials {
		if err := os.Remove(tx.r.partialPath(c)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("commit transaction in %s: %w", tx.r.path, err)
		}
	}
	for _, u := range tx.refs {
		var err error
		if u.del {
			err = tx.r.deleteRef(u.remote, u.name)
		} else {
			err = tx.r.writeRef(u.remote, u.name, u.c, tx.fsync)
		}
		if err != nil {
			return fmt.Errorf("commit transaction in %s: %w", tx.r.path, err)
		}
	}
	if len(tx.refs) > 0 {
		tx.r.touch()
	}
	tmpdir.Cleanup(ctx, filepath.Join(tx.r.path, "tmp"), tx.bootID, tx.r.tmpExpiry())
	return nil
}

func (r *Repo) tmpExpiry() time.Duration {
	if v, ok := r.config.Get("core", "tmp-expiry-secs"); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return time.Duration(n) * time.Second
		}
	}
	return 86400 * time.Second
}

// publishObjects moves every staged object into objects/: one syncfs, then
// no-replace renames, then one more syncfs. Renames go from directory
// descriptor to directory descriptor, with no path walk per object.
//
// The second syncfs makes the renames durable, as an fsync of each
// objects/XX touched and of objects/ would (what ostree does): the staging
// directory is inside the repository, on the same filesystem (a rename
// could not cross one), and syncfs writes back and waits for every dirty
// inode and metadata block of that filesystem, directories included, and
// commits its journal. It does so once, where an update pull touching all
// 256 objects/XX paid 256 synchronous directory writes and device flushes
// (a journal commit each on ext4 with a journal). Objects still reach
// objects/ only once written, verified and flushed by the first syncfs,
// and nothing names them (refs, commitpartial removal) before the second
// returns.
func (tx *Transaction) publishObjects() error {
	dirs, err := os.ReadDir(tx.staging.Path)
	if err != nil {
		return err
	}
	if tx.fsync {
		if err := unix.Syncfs(tx.stage.fd); err != nil {
			return fmt.Errorf("syncfs %s: %w", tx.staging.Path, err)
		}
	}
	objects, err := os.Open(filepath.Join(tx.r.path, "objects"))
	if err != nil {
		return err
	}
	defer objects.Close()
	published := false
	for _, d := range dirs {
		if !d.IsDir() || len(d.Name()) != 2 {
			continue
		}
		moved, err := tx.publishDir(objects, d.Name())
		if err != nil {
			return err
		}
		published = published || moved
	}
	if !tx.fsync || !published {
		return nil
	}
	if err := unix.Syncfs(tx.stage.fd); err != nil {
		return fmt.Errorf("syncfs %s after publishing objects: %w", tx.r.path, err)
	}
	return nil
}

// publishDir moves the objects of staging/xx into objects/xx, and reports
// whether it moved any; the caller makes the renames durable.
func (tx *Transaction) publishDir(objects *os.File, xx string) (moved bool, err error) {
	src, err := os.Open(filepath.Join(tx.staging.Path, xx))
	if err != nil {
		return false, err
	}
	defer src.Close()
	names, err := src.Readdirnames(-1)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", src.Name(), err)
	}
	if len(names) == 0 {
		return false, nil
	}
	// Where objects/xx does not exist yet (a new repository, a first
	// pull), the whole directory moves in with one rename instead of one
	// per object: it holds only objects (temporaries are made at the top
	// of the staging directory, and Begin removes what it cannot parse),
	// made durable by the syncfs before; the rename by the one after.
	err = unix.Renameat2(int(tx.stage.fd), xx, int(objects.Fd()), xx, unix.RENAME_NOREPLACE)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOTEMPTY) {
		return false, fmt.Errorf("publish %s: %w", xx, err)
	}
	if err := unix.Mkdirat(int(objects.Fd()), xx, 0o777); err != nil && !errors.Is(err, unix.EEXIST) {
		return false, fmt.Errorf("mkdir %s/%s: %w", objects.Name(), xx, err)
	}
	dst, err := os.Open(filepath.Join(objects.Name(), xx))
	if err != nil {
		return false, err
	}
	defer dst.Close()
	sfd, dfd := int(src.Fd()), int(dst.Fd())
	for _, name := range names {
		if strings.HasSuffix(name, ".commitmeta") {
			err = unix.Renameat(sfd, name, dfd, name) // detached metadata is mutable
		} else if err = unix.Renameat2(sfd, name, dfd, name, unix.RENAME_NOREPLACE); errors.Is(err, unix.EEXIST) {
			err = unix.Unlinkat(sfd, name, 0) // first writer wins: the object is identical
			tx.uncount(xx, name)
		}
		if err != nil {
			return false, fmt.Errorf("publish %s/%s: %w", xx, name, err)
		}
	}
	return true, nil
}
