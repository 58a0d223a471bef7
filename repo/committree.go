package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo/gvariant"
)

// DirOptions controls WriteDirectory.
type DirOptions struct {
	// CanonicalPermissions records every entry as owned by 0:0, without
	// setuid, setgid, sticky and group/other write bits, and without
	// xattrs, as ostree's --canonical-permissions does; bare-user-only
	// repositories always record entries so.
	CanonicalPermissions bool
	// UID and GID, when set, replace every entry's owner before the
	// rules above apply (ostree commit --owner-uid/--owner-gid).
	UID, GID *uint32
	// ROExecutables clears the write bits of regular files with any
	// execute bit (--mode-ro-executables).
	ROExecutables bool
	// NoXattrs records no extended attributes (--no-xattrs).
	NoXattrs bool
	// Filter, when set, sees each entry after the options above (path
	// from the tree's root, "/" for the root itself) and may change it;
	// returning false leaves the entry (and what is below it) out. It is
	// called from several goroutines at once.
	Filter func(path string, fi *FileInfo) bool
}

// errSkipped is how a filtered-out entry leaves the tree walk.
var errSkipped = errors.New("skipped by the commit filter")

// WriteDirectory stages the tree at dir, files hashed and written in
// parallel, and returns its root dirtree and dirmeta checksums. Only
// regular files, symlinks and directories can be committed.
func (tx *Transaction) WriteDirectory(ctx context.Context, dir string, o DirOptions) (tree, meta Checksum, err error) {
	w := &treeWriter{tx: tx, ctx: ctx, o: o, sem: make(chan struct{}, 2*runtime.NumCPU())}
	tree, meta, err = w.dir(dir, "/", nil)
	if errors.Is(err, errSkipped) {
		err = fmt.Errorf("commit %s: the filter left out the root", dir)
	}
	return tree, meta, err
}

// WriteDirectoryInto stages the files of the tree at dir and merges it
// into t (directories merge and take dir's metadata, files replace), as
// ostree commit does with a --tree=dir= after other trees.
func (tx *Transaction) WriteDirectoryInto(ctx context.Context, dir string, t *MutableTree, o DirOptions) error {
	w := &treeWriter{tx: tx, ctx: ctx, o: o, sem: make(chan struct{}, 2*runtime.NumCPU())}
	_, _, err := w.dir(dir, "/", t)
	if errors.Is(err, errSkipped) {
		err = fmt.Errorf("commit %s: the filter left out the root", dir)
	}
	return err
}

type treeWriter struct {
	tx  *Transaction
	ctx context.Context
	o   DirOptions
	sem chan struct{}
}

// stat describes p as the commit records it.
func (w *treeWriter) stat(p, rel string) (*FileInfo, error) {
	fi, err := statForCommit(p, w.tx.r.mode)
	if err != nil {
		return nil, err
	}
	return w.modify(fi, rel)
}

// modify applies the options to an entry (rel: its path from the root),
// or returns errSkipped.
func (w *treeWriter) modify(fi *FileInfo, rel string) (*FileInfo, error) {
	w.o.filter(fi)
	if w.o.Filter != nil && !w.o.Filter(rel, fi) {
		return nil, errSkipped
	}
	if w.o.CanonicalPermissions || w.tx.r.mode == ModeBareUserOnly {
		fi.UID, fi.GID = 0, 0
		if !fi.IsSymlink() {
			fi.Mode &= sIFMT | 0o755
		}
		fi.Xattrs = nil
	}
	return fi, nil
}

// filter applies the owner, mode and xattr options, as ostree commit's
// commit filter does, before permissions are canonicalised.
func (o *DirOptions) filter(fi *FileInfo) {
	if o.UID != nil {
		fi.UID = *o.UID
	}
	if o.GID != nil {
		fi.GID = *o.GID
	}
	if o.ROExecutables && fi.Mode&sIFMT == sIFREG && fi.Mode&0o111 != 0 {
		fi.Mode &^= 0o222
	}
	if o.NoXattrs {
		fi.Xattrs = nil
	}
}

// dir writes the tree at dir; with mt, it merges it into mt instead of
// writing its dirtree objects.
func (w *treeWriter) dir(dir, rel string, mt *MutableTree) (Checksum, Checksum, error) {
	var zero Checksum
	if err := w.ctx.Err(); err != nil {
		return zero, zero, err
	}
	meta, err := w.dirMeta(dir, rel)
	if err != nil {
		return zero, zero, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return zero, zero, fmt.Errorf("commit %s: %w", dir, err)
	}
	var t gvariant.DirTree
	type fileResult struct {
		name string
		c    Checksum
		err  error
	}
	var files []*fileResult
	var wg sync.WaitGroup
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(dir, name)
		if !utf8.ValidString(name) {
			return zero, zero, fmt.Errorf("commit: Invalid UTF-8 in filename %q", p)
		}
		crel := joinPath(rel, name)
		if e.IsDir() {
			var sub *MutableTree
			existed := false
			if mt != nil {
				_, existed = mt.dirs[name]
				if sub, err = mt.EnsureDir(name); err != nil {
					return zero, zero, fmt.Errorf("commit %s: %w", p, err)
				}
			}
			sub0, subMeta, err := w.dir(p, crel, sub)
			if errors.Is(err, errSkipped) {
				if mt != nil && !existed {
					delete(mt.dirs, name)
				}
				continue
			}
			if err != nil {
				return zero, zero, err
			}
			if mt != nil {
				continue
			}
			sub1 := sub0
			t.Dirs = append(t.Dirs, gvariant.TreeDir{Name: name, Tree: clone32(sub1), Meta: clone32(subMeta)})
			continue
		}
		if !e.Type().IsRegular() && e.Type()&os.ModeSymlink == 0 {
			return zero, zero, fmt.Errorf("commit: Not a regular file or symlink: %s", p)
		}
		res := &fileResult{name: name}
		files = append(files, res)
		wg.Add(1)
		w.sem <- struct{}{}
		go func() {
			defer func() { <-w.sem; wg.Done() }()
			res.c, res.err = w.file(p, crel)
		}()
	}
	wg.Wait()
	for _, f := range files {
		if errors.Is(f.err, errSkipped) {
			continue
		}
		if f.err != nil {
			return zero, zero, f.err
		}
		if mt != nil {
			if err := mt.ReplaceFile(f.name, f.c); err != nil {
				return zero, zero, fmt.Errorf("commit %s: %w", filepath.Join(dir, f.name), err)
			}
			continue
		}
		t.Files = append(t.Files, gvariant.TreeFile{Name: f.name, Checksum: clone32(f.c)})
	}
	if mt != nil {
		mt.SetMeta(meta)
		return zero, meta, nil
	}
	sort.Slice(t.Files, func(i, j int) bool { return t.Files[i].Name < t.Files[j].Name })
	sort.Slice(t.Dirs, func(i, j int) bool { return t.Dirs[i].Name < t.Dirs[j].Name })
	tree, err := w.tx.WriteMetadata(ObjDirTree, gvariant.EncodeDirTree(t), nil)
	return tree, meta, err
}

func clone32(c Checksum) []byte { return append([]byte(nil), c[:]...) }

func (w *treeWriter) dirMeta(dir, rel string) (Checksum, error) {
	fi, err := w.stat(dir, rel)
	if errors.Is(err, errSkipped) {
		return Checksum{}, err
	}
	if err != nil {
		return Checksum{}, fmt.Errorf("commit %s: %w", dir, err)
	}
	m := gvariant.DirMeta{UID: fi.UID, GID: fi.GID, Mode: fi.Mode, Xattrs: xattrsToGV(fi.Xattrs)}
	return w.tx.WriteMetadata(ObjDirMeta, gvariant.EncodeDirMeta(m), nil)
}

func (w *treeWriter) file(p, rel string) (Checksum, error) {
	fi, err := w.stat(p, rel)
	if errors.Is(err, errSkipped) {
		return Checksum{}, err
	}
	if err != nil {
		return Checksum{}, fmt.Errorf("commit %s: %w", p, err)
	}
	if fi.IsSymlink() {
		c, err := w.tx.WriteContent(fi, nil, nil)
		if err != nil {
			err = fmt.Errorf("commit %s: %w", p, err)
		}
		return c, err
	}
	// A bare descriptor: see fdReader. O_NOFOLLOW: p was a regular file
	// when statted; if it became a symlink since, fail rather than commit
	// its target's bytes under the file's metadata.
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return Checksum{}, fmt.Errorf("commit: %w", &os.PathError{Op: "open", Path: p, Err: err})
	}
	defer unix.Close(fd)
	c, err := w.tx.WriteContent(fi, fdReader(fd), nil)
	if err != nil {
		err = fmt.Errorf("commit %s: %w", p, err)
	}
	return c, err
}

// CommitOptions describes a new commit.
type CommitOptions struct {
	Subject, Body string
	Timestamp     time.Time // zero: now
	Metadata      gvariant.Metadata
	Parent        *Checksum
}

// WriteCommit stages a commit object for a tree written with
// WriteDirectory and returns its checksum.
func (tx *Transaction) WriteCommit(o CommitOptions, tree, meta Checksum) (Checksum, error) {
	ts := o.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	c := gvariant.Commit{
		Metadata:  o.Metadata,
		Subject:   o.Subject,
		Body:      o.Body,
		Timestamp: uint64(ts.Unix()),
		RootTree:  clone32(tree),
		RootMeta:  clone32(meta),
	}
	if o.Parent != nil {
		c.Parent = clone32(*o.Parent)
	}
	return tx.WriteMetadata(ObjCommit, gvariant.EncodeCommit(c), nil)
}

// statForCommit describes a file or directory as a commit into a
// repository of the given mode records it.
func statForCommit(p string, mode Mode) (*FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	fi := &FileInfo{UID: st.Uid, GID: st.Gid, Mode: st.Mode}
	switch st.Mode & sIFMT {
	case sIFLNK:
		t, err := os.Readlink(p)
		if err != nil {
			return nil, err
		}
		fi.Target = t
	case sIFREG:
		fi.Size = uint64(st.Size)
	}
	if mode == ModeBareUserOnly {
		// This mode keeps no xattrs, so they are not part of the
		// object's identity either.
		return fi, nil
	}
	xs, err := listXattrs(p)
	if err != nil {
		return nil, err
	}
	fi.Xattrs = xs
	return fi, nil
}
