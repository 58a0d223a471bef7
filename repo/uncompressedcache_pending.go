package repo

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/tmpdir"
)

// Pending areas: where a checkout leaves its new cache entries for a
// later process to publish (see the doc comment of uncompressedcache.go).

// ucacheBootID is the boot a pending area is of. Tests swap it to play a
// reboot between a checkout and the next.
var ucacheBootID = tmpdir.BootID

// pendingManifest is the file of a pending area that lists its entries,
// written last: an area without a whole one (its checkout was killed)
// publishes nothing.
const pendingManifest = "manifest"

const (
	pendingMagic     = "repofs-pending1\n"
	pendingHeaderLen = len(pendingMagic) + 8
	pendingEntryLen  = 32 + 4 + vrStatLen
)

// pendingEntry is one staged entry.
type pendingEntry struct {
	c       Checksum
	replace bool   // the cache's entry was found bad: replace it
	st      vrStat // the entry as staged; zero: not to be published
}

// writeManifest writes es as the manifest of the pending area dirFd.
func writeManifest(dirFd int, es []pendingEntry) error {
	b := make([]byte, 0, pendingHeaderLen+len(es)*pendingEntryLen)
	b = append(b, pendingMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(es)))
	for _, e := range es {
		b = append(b, e.c[:]...)
		var flags uint32
		if e.replace {
			flags = 1
		}
		b = binary.LittleEndian.AppendUint32(b, flags)
		b = e.st.appendTo(b)
	}
	fd, err := unix.Openat(dirFd, pendingManifest, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create the pending entries' manifest: %w", err)
	}
	err = writeFd(fd, b)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the pending entries' manifest: %w", err)
	}
	return nil
}

// readManifest reads the manifest of the pending area dirFd; false: none,
// or not whole.
func readManifest(dirFd int) ([]pendingEntry, bool) {
	fd, err := unix.Openat(dirFd, pendingManifest, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	f := os.NewFile(uintptr(fd), pendingManifest)
	defer f.Close()
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size < int64(pendingHeaderLen) || st.Size > 1<<30 {
		return nil, false
	}
	b := make([]byte, st.Size)
	if preadFull(fd, b, 0) != nil || string(b[:len(pendingMagic)]) != pendingMagic {
		return nil, false
	}
	le := binary.LittleEndian
	n := le.Uint64(b[len(pendingMagic):])
	b = b[pendingHeaderLen:]
	if n != uint64(len(b))/pendingEntryLen || len(b)%pendingEntryLen != 0 {
		return nil, false // torn: its checkout died writing it
	}
	es := make([]pendingEntry, n)
	for i := range es {
		e := b[i*pendingEntryLen:]
		copy(es[i].c[:], e[:32])
		es[i].replace = le.Uint32(e[32:])&1 != 0
		es[i].st = vrStatFrom(e[36:])
	}
	return es, true
}

// publishPending publishes what checkouts left in pending areas and
// returns how many entries went into the cache. It claims every pending
// area nobody holds (so no two processes publish one); drops, unpublished,
// those of another boot, whose bytes a crash may have lost, and those
// without a whole manifest; flushes the filesystem once, which makes
// durable the bytes of every finished write of this boot; and renames
// into the cache each entry that still is what its checkout staged. The
// caller holds repo/.lock, shared or exclusive: prune does not run
// meanwhile.
func (r *Repo) publishPending(ctx context.Context) (int, error) {
	areas, claimErr := tmpdir.Claim(ctx, filepath.Join(r.path, "tmp"), tmpdir.Pending)
	if len(areas) == 0 {
		return 0, claimErr
	}
	boot, err := ucacheBootID()
	if err != nil {
		for _, d := range areas {
			d.Release()
		}
		return 0, fmt.Errorf("publish pending cache entries: %w", err)
	}
	var (
		live []pendingArea
		errs = []error{claimErr}
		euid = uint32(os.Geteuid())
	)
	for _, d := range areas {
		if d.Boot() != boot {
			errs = append(errs, d.Remove())
			continue
		}
		fd, err := unix.Open(d.Path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("open %s: %w", d.Path, err), d.Remove())
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || (st.Uid != euid && euid != 0) {
			// Another user's, which this one could not remove once
			// published: left to its owner, rather than flushed and
			// tried again by every checkout.
			unix.Close(fd)
			d.Release()
			continue
		}
		es, ok := readManifest(fd)
		if !ok || len(es) == 0 {
			unix.Close(fd)
			errs = append(errs, d.Remove())
			continue
		}
		live = append(live, pendingArea{d, fd, es})
	}
	n := 0
	if len(live) > 0 {
		var err error
		n, err = r.publishAreas(live)
		errs = append(errs, err)
		for _, a := range live {
			unix.Close(a.fd)
			errs = append(errs, a.d.Remove())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("publish pending cache entries: %w", err)
	}
	return n, nil
}

// pendingArea is a claimed pending area of this boot.
type pendingArea struct {
	d  *tmpdir.Dir
	fd int // d, open
	es []pendingEntry
}

// publishAreas opens the cache, creating it, flushes the filesystem and
// publishes the areas' entries.
func (r *Repo) publishAreas(areas []pendingArea) (int, error) {
	p := filepath.Join(r.path, uncompressedCacheDir)
	if err := os.Mkdir(p, 0o775); err != nil && !errors.Is(err, fs.ErrExist) {
		return 0, fmt.Errorf("create %s: %w", p, err)
	}
	cacheFd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(cacheFd)
	// Every entry durable before any is named: their checkouts, of this
	// boot, finished writing them, so this one flush puts the bytes of
	// them all on disk.
	if err := unix.Syncfs(cacheFd); err != nil {
		return 0, fmt.Errorf("syncfs: %w", err)
	}
	n := 0
	var errs []error
	for _, a := range areas {
		k, err := publishEntries(a.fd, cacheFd, a.es, true)
		n += k
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// publishEntries renames the staged entries es of the directory areaFd
// (laid out as the cache) into the cache cacheFd, each cache directory's
// by one of as many goroutines as there are cores, and returns how many
// went in. With check, an entry that does not look as staged (written or
// chmodded since, through the checkout's file) is dropped instead. An
// existing entry wins, unless es says it was found bad.
func publishEntries(areaFd, cacheFd int, es []pendingEntry, check bool) (int, error) {
	var byPrefix [256][]pendingEntry
	for _, e := range es {
		byPrefix[e.c[0]] = append(byPrefix[e.c[0]], e)
	}
	var (
		next atomic.Int32
		done atomic.Int64
		wg   sync.WaitGroup
		errs = make([]error, runtime.NumCPU())
	)
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(byPrefix) {
					return
				}
				k, err := publishPrefix(areaFd, cacheFd, byPrefix[i], check)
				done.Add(int64(k))
				if err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), errors.Join(errs...)
}

// publishPrefix publishes es, the staged entries of one cache directory.
func publishPrefix(areaFd, cacheFd int, es []pendingEntry, check bool) (int, error) {
	if len(es) == 0 {
		return 0, nil
	}
	prefix := hex.EncodeToString(es[0].c[:1])
	if check {
		es = slices.DeleteFunc(slices.Clone(es), func(e pendingEntry) bool {
			var st unix.Stat_t
			err := unix.Fstatat(areaFd, entryName(e.c), &st, unix.AT_SYMLINK_NOFOLLOW)
			if err == nil && e.st.size > 0 && vrStatOf(&st) == e.st {
				return false
			}
			unix.Unlinkat(areaFd, entryName(e.c), 0)
			return true
		})
		if len(es) == 0 {
			return 0, nil
		}
	}
	// Where the cache has no such directory yet (an empty cache), the
	// staged one moves in whole, one rename instead of one per entry, if
	// it holds only the entries to publish: each complete and verified
	// before it was linked in, durable by now.
	if !check || onlyEntries(areaFd, prefix, es) {
		err := unix.Renameat2(areaFd, prefix, cacheFd, prefix, unix.RENAME_NOREPLACE)
		if err == nil {
			return len(es), nil
		}
		if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOTEMPTY) {
			return 0, fmt.Errorf("uncompressed-objects cache: rename %s: %w", prefix, err)
		}
	}
	n := 0
	for _, e := range es {
		name := entryName(e.c)
		var err error
		if e.replace {
			err = unix.Renameat(areaFd, name, cacheFd, name)
		} else {
			err = unix.Renameat2(areaFd, name, cacheFd, name, unix.RENAME_NOREPLACE)
		}
		switch {
		case err == nil:
			n++
		case errors.Is(err, unix.EEXIST):
		case errors.Is(err, unix.ENOENT):
			// The cache has no such directory (the staged one did not
			// move in whole), or it went meanwhile: make it, once.
			if err := unix.Mkdirat(cacheFd, prefix, 0o775); err != nil && !errors.Is(err, unix.EEXIST) {
				return n, fmt.Errorf("uncompressed-objects cache: mkdir %s: %w", prefix, err)
			}
			if err := unix.Renameat2(areaFd, name, cacheFd, name, unix.RENAME_NOREPLACE); err == nil {
				n++
			} else if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOENT) {
				return n, fmt.Errorf("uncompressed-objects cache: rename %s: %w", name, err)
			}
		default:
			return n, fmt.Errorf("uncompressed-objects cache: rename %s: %w", name, err)
		}
	}
	return n, nil
}

// onlyEntries reports whether the directory prefix in areaFd holds es
// and nothing else.
func onlyEntries(areaFd int, prefix string, es []pendingEntry) bool {
	fd, err := unix.Openat(areaFd, prefix, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(fd), prefix)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil || len(names) != len(es) {
		return false
	}
	want := make(map[string]bool, len(es))
	for _, e := range es {
		want[strings.TrimPrefix(entryName(e.c), prefix+"/")] = true
	}
	for _, n := range names {
		if !want[n] {
			return false
		}
	}
	return true
}
