package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// payloadLink is ostree's OSTREE_OBJECT_TYPE_PAYLOAD_LINK (bare
// repositories with core.payload-link-threshold): a symlink named by a
// payload's checksum to the content object holding it. repofs writes none
// but prunes them as ostree does.
const payloadLink ObjectType = 7

// looseDir is what sweep found in one objects/XX directory.
type looseDir struct {
	xx      string
	commits []Checksum // unreachable commits
	others  []string   // unreachable objects' file names, commits excepted
	links   []string   // unreachable payload links
	res     PruneResult
	err     error
}

// sweep deletes every object in objects/ that reach did not keep,
// commits first, and counts them as ostree does. The 256 directories are
// listed and emptied in parallel: the work is system calls.
func (p *pruner) sweep(ctx context.Context) error {
	objects := filepath.Join(p.r.path, "objects")
	ents, err := os.ReadDir(objects)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	var dirs []*looseDir
	for _, e := range ents {
		if len(e.Name()) == 2 && e.IsDir() {
			dirs = append(dirs, &looseDir{xx: e.Name()})
		}
	}
	if err := parallel(ctx, dirs, p.scanDir); err != nil {
		return err
	}
	for _, d := range dirs {
		p.res.Total += d.res.Total
		p.res.Pruned += d.res.Pruned
		p.res.Freed += d.res.Freed
	}
	if p.o.NoPrune {
		return nil
	}
	for _, d := range dirs {
		for _, c := range d.commits {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := p.deleteCommitObject(c, true); err != nil {
				return err
			}
		}
	}
	return parallel(ctx, dirs, p.deleteDir)
}

// parallel runs fn on each dir with a few workers and returns the first
// error.
func parallel(ctx context.Context, dirs []*looseDir, fn func(*looseDir) error) error {
	work := make(chan *looseDir)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				d.err = fn(d)
			}
		}()
	}
	for _, d := range dirs {
		if ctx.Err() != nil {
			break
		}
		work <- d
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, d := range dirs {
		if d.err != nil {
			return d.err
		}
	}
	return nil
}

// looseType returns the object type a file name in objects/XX stands for
// in a repository of mode m, as ostree's list_loose_objects_at reads it.
func looseType(name string, m Mode) (string, ObjectType, bool) {
	dot := strings.LastIndexByte(name, '.')
	if dot != 62 {
		return "", 0, false
	}
	var t ObjectType
	switch name[dot:] {
	case ".filez":
		if m != ModeArchive {
			return "", 0, false
		}
		t = ObjFile
	case ".file":
		if m == ModeArchive {
			return "", 0, false
		}
		t = ObjFile
	case ".dirtree":
		t = ObjDirTree
	case ".dirmeta":
		t = ObjDirMeta
	case ".commit":
		t = ObjCommit
	case ".payload-link":
		t = payloadLink
	default:
		return "", 0, false
	}
	return name[:dot], t, true
}

// scanDir counts one directory's objects and sizes the unreachable ones.
func (p *pruner) scanDir(d *looseDir) error {
	dir := filepath.Join(p.r.path, "objects", d.xx)
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("prune: read %s: %w", dir, err)
	}
	fd := int(f.Fd())
	for _, name := range names {
		rest, t, ok := looseType(name, p.r.mode)
		if !ok || p.o.CommitOnly && t != ObjCommit {
			continue
		}
		c, err := ParseChecksum(d.xx + rest)
		if err != nil {
			continue
		}
		d.res.Total++
		if _, ok := p.keep.objects[objKey{c, t}]; ok {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("Querying object %s.%s: %w", c, strings.TrimPrefix(name[62:], "."), err)
		}
		d.res.Freed += uint64(st.Size)
		switch {
		case p.o.NoPrune:
		case t == ObjCommit:
			d.commits = append(d.commits, c)
		case t == payloadLink:
			if p.payloadTargetKept(fd, name) {
				continue // counted as kept; its size stays in Freed, as in ostree
			}
			d.others = append(d.others, name)
		default:
			d.others = append(d.others, name)
		}
		d.res.Pruned++
	}
	return nil
}

// payloadTargetKept reports whether a payload link's content object is
// kept and large enough to deserve the link.
func (p *pruner) payloadTargetKept(dirfd int, name string) bool {
	buf := make([]byte, 256)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil || n < 3+2+1+62 {
		return false
	}
	target := string(buf[3:n]) // "../XX/YYYY….file"
	c, err := ParseChecksum(target[:2] + target[3:65])
	if err != nil {
		return false
	}
	if _, ok := p.keep.objects[objKey{c, ObjFile}]; !ok {
		return false
	}
	threshold := uint64(1<<64 - 1)
	if v, ok := p.r.config.Get("core", "payload-link-threshold"); ok {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			threshold = n
		}
	}
	st, err := os.Lstat(p.r.objectPath(c, ObjFile))
	return err == nil && uint64(st.Size()) >= threshold
}

// deleteDir unlinks one directory's unreachable objects other than commits.
func (p *pruner) deleteDir(d *looseDir) error {
	if len(d.others) == 0 {
		return nil
	}
	dir := filepath.Join(p.r.path, "objects", d.xx)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("prune: open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	for _, name := range d.others {
		if err := unix.Unlinkat(fd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("Deleting object %s%s: %w", d.xx, name, err)
		}
	}
	return nil
}
