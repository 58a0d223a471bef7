package repo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unicode"

	"golang.org/x/sys/unix"
)

// Ref is a named pointer to a commit.
type Ref struct {
	Remote   string // "" for a local ref (refs/heads)
	Name     string
	Checksum Checksum
}

// String returns the refspec: "name" or "remote:name".
func (r Ref) String() string {
	if r.Remote != "" {
		return r.Remote + ":" + r.Name
	}
	return r.Name
}

// ValidateRef checks a ref name against OSTree's grammar:
// fragment ("/" fragment)*, fragment = [\w\d][-._\w\d]*, not a checksum.
func ValidateRef(name string) error {
	if name == "" || IsChecksum(name) {
		return fmt.Errorf("Invalid ref name %s", name)
	}
	for _, f := range strings.Split(name, "/") {
		if !validFragment(f) {
			return fmt.Errorf("Invalid ref name %s", name)
		}
	}
	return nil
}

// ValidateRemoteName checks a remote name: a single ref fragment.
func ValidateRemoteName(name string) error {
	if !validFragment(name) {
		return fmt.Errorf("Invalid remote name %s", name)
	}
	return nil
}

func validFragment(f string) bool {
	if f == "" {
		return false
	}
	for i, c := range f {
		word := c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c) || unicode.In(c, unicode.N, unicode.Mn)
		if !word && (i == 0 || (c != '-' && c != '.')) {
			return false
		}
	}
	return true
}

// ParseRefspec splits "[remote:]ref" and validates both parts.
func ParseRefspec(spec string) (remote, ref string, err error) {
	remote, ref, ok := strings.Cut(spec, ":")
	if !ok {
		remote, ref = "", spec
	} else if ValidateRemoteName(remote) != nil {
		return "", "", fmt.Errorf("Invalid refspec %s", spec)
	}
	if ValidateRef(ref) != nil {
		return "", "", fmt.Errorf("Invalid refspec %s", spec)
	}
	return remote, ref, nil
}

func (r *Repo) refsDir(remote string) string {
	if remote == "" {
		return filepath.Join(r.path, "refs", "heads")
	}
	return filepath.Join(r.path, "refs", "remotes", remote)
}

// readRefFile reads a ref file: 64 hex digits and optional whitespace.
func readRefFile(p string) (Checksum, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return Checksum{}, err
	}
	s := string(bytes.TrimSpace(data))
	c, err := ParseChecksum(s)
	if err != nil {
		return Checksum{}, fmt.Errorf("ref file %s: %w", p, err)
	}
	return c, nil
}

// ReadRef returns the commit a ref points to, or an error wrapping
// ErrNotFound.
func (r *Repo) ReadRef(remote, name string) (Checksum, error) {
	p := filepath.Join(r.refsDir(remote), filepath.FromSlash(name))
	c, err := readRefFile(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) {
		return c, &refNotFound{Ref{remote, name, c}.String()}
	}
	if isLoop(err) {
		rel, _ := filepath.Rel(r.path, p)
		return c, aliasLoop(filepath.ToSlash(rel))
	}
	return c, err
}

// refNotFound mirrors ostree's wording for a missing ref.
type refNotFound struct{ spec string }

func (e *refNotFound) Error() string { return "Refspec '" + e.spec + "' not found" }
func (e *refNotFound) Unwrap() error { return ErrNotFound }

// ListRefs lists refs the way `ostree refs [PREFIX]` does: with no prefix,
// every local and remote-tracking ref; with "remote:" every ref of that
// remote; with a ref prefix naming a directory, the refs below it with the
// prefix cut off (unless keepPrefix); with a prefix naming a ref, that ref.
// The result is sorted by refspec.
func (r *Repo) ListRefs(prefix string, keepPrefix bool) ([]Ref, error) {
	var out []Ref
	if prefix == "" {
		var err error
		if out, err = r.walkRefs("", "", ""); err != nil {
			return nil, err
		}
		remotes, err := r.listDir(filepath.Join(r.path, "refs", "remotes"))
		if err != nil {
			return nil, err
		}
		for _, rem := range remotes {
			refs, err := r.walkRefs(rem, "", "")
			if err != nil {
				return nil, err
			}
			out = append(out, refs...)
		}
	} else {
		remote, ref, _ := strings.Cut(prefix, ":")
		if !strings.Contains(prefix, ":") {
			remote, ref = "", prefix
		}
		ref = strings.Trim(ref, "/")
		base := filepath.Join(r.refsDir(remote), filepath.FromSlash(ref))
		st, err := os.Stat(base)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil
		case isLoop(err):
			rel, _ := filepath.Rel(r.path, base)
			return nil, fmt.Errorf("Listing refs: fstatat(%s): %w", filepath.ToSlash(rel), ErrAliasLoop)
		case err != nil:
			return nil, fmt.Errorf("list refs: %w", err)
		case !st.IsDir():
			c, err := readRefFile(base)
			if isLoop(err) {
				return nil, fmt.Errorf("Listing refs: %w", aliasLoop(ref))
			}
			if err != nil {
				return nil, err
			}
			return []Ref{{remote, ref, c}}, nil
		}
		cut := ref
		if keepPrefix || ref == "" {
			cut = ""
		}
		if out, err = r.walkRefs(remote, ref, cut); err != nil {
			return nil, err
		}
	}
	sortRefs(out)
	return out, nil
}

// sortRefs sorts refs by refspec, each spelled out once rather than on
// every comparison.
func sortRefs(refs []Ref) {
	keyed := make([]struct {
		key string
		ref Ref
	}, len(refs))
	for i, r := range refs {
		keyed[i].key, keyed[i].ref = r.String(), r
	}
	slices.SortFunc(keyed, func(a, b struct {
		key string
		ref Ref
	}) int {
		return strings.Compare(a.key, b.key)
	})
	for i := range keyed {
		refs[i] = keyed[i].ref
	}
}

// walkRefs lists the refs of a remote ("" = local) below sub, naming them
// relative to cut.
func (r *Repo) walkRefs(remote, sub, cut string) ([]Ref, error) {
	var out []Ref
	err := walkRefTree(filepath.Join(r.refsDir(remote), filepath.FromSlash(sub)), sub, func(full string, c Checksum) {
		if cut != "" {
			full = strings.TrimPrefix(full, cut+"/")
		}
		out = append(out, Ref{remote, full, c})
	})
	return out, err
}

// walkRefTree calls fn for each ref file below dir, named prefix/PATH
// (PATH alone when prefix is ""), in no particular order. Entries that
// are not valid ref name fragments are skipped, as ostree skips
// .rsync_info and the like; so are refs deleted while it walks, which
// another writer may do at any time.
func walkRefTree(dir, prefix string, fn func(name string, c Checksum)) error {
	w := &refWalk{root: dir, prefix: prefix, sem: make(chan struct{}, listParallel), split: listSplit}
	w.run()
	if w.err != nil {
		return w.err
	}
	for _, r := range w.refs {
		fn(r.path, r.sum)
	}
	return nil
}

const (
	// listParallel is how many goroutines a listing of refs adds to its
	// own.
	listParallel = 3
	// listSplit is how many subdirectories a directory needs for them
	// to be read in several goroutines: fewer cost less in one.
	listSplit = 64
)

// refWalk is one walk of a subtree of refs/: for a listing (walkRefTree)
// or for the ref watch (scanRefs). A mirror's refs/ holds tens of
// thousands of small directories below a few large ones: the
// subdirectories of a large one are read in a few goroutines, each
// directory opened through its parent (one name for the kernel to look
// up), each ref with an open, a read and a close.
type refWalk struct {
	root string // the directory walked, on disk
	// prefix names root in the paths the walk gives: what is below it is
	// prefix/PATH (PATH alone when prefix is "").
	prefix string
	// watch marks the ref watch's walk. prefix is then a path under
	// refs/ (refsDir), and the walk follows the layout of refs/
	// (refDirAllowed, refFileAllowed) rather than taking every valid
	// name; it reports a symbolic link as an alias with its target,
	// records each directory it read (dirs), skips a ref that is gone,
	// empty or a loop of aliases or a directory replaced meanwhile (its
	// events will say so) where a listing fails, and words its errors as
	// the watch's.
	watch   bool
	refsDir string
	// enter, if set, is called on each directory before it is opened,
	// and returns its watch descriptor (-1 if none), so that a change
	// after the read is notified.
	enter func(dir string) (int32, error)
	// descend tells whether to read a directory found below the first;
	// nil reads them all. One not read is listed in stubs.
	descend func(dir string) bool
	// sem holds a slot for each goroutine the walk adds (nil: none), and
	// split is how many subdirectories a directory needs for them to be
	// read in several.
	sem   chan struct{}
	split int

	mu    sync.Mutex
	refs  []scannedRef
	dirs  []scannedDir // the directories read (watch only)
	stubs []string     // the directories found and not read (see descend)
	// stray are the watches of directories gone before they were read.
	stray []int32
	err   error // the first read that failed: the walk is incomplete
	// watchErr is the first watch that could not be placed: the walk is
	// complete, but a later change there goes unnotified.
	watchErr error
}

// scannedRef is a ref a walk found.
type scannedRef struct {
	path string
	sum  Checksum
	// alias marks a symbolic link (watch only), naming the ref target,
	// both under refs/ (target "" if outside refs/).
	alias  bool
	target string
}

// scannedDir is a directory a walk read, watched as wd (-1 if not).
type scannedDir struct {
	path string
	wd   int32
}

// run walks root.
func (w *refWalk) run() { w.dir(unix.AT_FDCWD, w.root, w.prefix) }

func (w *refWalk) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// full returns the path on disk of p, a path of the walk.
func (w *refWalk) full(p string) string {
	switch {
	case p == w.prefix:
		return w.root
	case w.prefix == "":
		return w.root + "/" + p
	}
	return w.root + p[len(w.prefix):]
}

// dir reads the directory name in the one open as parent (p in the
// walk), then its subdirectories.
func (w *refWalk) dir(parent int, name, p string) {
	wd := int32(-1)
	if w.enter != nil {
		var err error
		if wd, err = w.enter(p); err != nil {
			w.mu.Lock()
			if w.watchErr == nil {
				w.watchErr = err
			}
			w.mu.Unlock()
		}
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		w.unread(wd)
		switch {
		case errors.Is(err, unix.ENOENT) || w.watch && errors.Is(err, unix.ENOTDIR):
		case w.watch:
			w.fail(fmt.Errorf("list refs in %s: %w", w.full(p), err))
		default:
			w.fail(fmt.Errorf("list refs: open %s: %w", w.full(p), err))
		}
		return
	}
	defer unix.Close(fd)
	filesOK := !w.watch || p != "" && refDirAllowed(p) && (strings.HasPrefix(p, "heads") || strings.Contains(p, "/"))
	var refs []scannedRef
	var subs, stubs []string
	err = eachDirent(fd, func() string { return w.full(p) }, func(nb []byte, typ byte) error {
		if !validFragment(string(nb)) {
			return nil
		}
		name := string(nb)
		if typ == unix.DT_UNKNOWN {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return nil // gone meanwhile
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				typ = unix.DT_DIR
			case unix.S_IFLNK:
				typ = unix.DT_LNK
			default:
				typ = unix.DT_REG
			}
		}
		if typ == unix.DT_DIR {
			sub := join(p, name)
			switch {
			case w.watch && !refDirAllowed(sub):
			case w.descend != nil && !w.descend(sub):
				stubs = append(stubs, sub)
			default:
				subs = append(subs, name)
			}
			return nil
		}
		if !filesOK {
			return nil
		}
		r := scannedRef{path: join(p, name)}
		var ok bool
		var err error
		if w.watch {
			r.sum, ok, err = readRefAt(fd, name, func() string { return w.full(r.path) })
			if ok && typ == unix.DT_LNK {
				r.alias, r.target = true, w.aliasTarget(r.path, w.full(r.path))
			}
		} else {
			r.sum, ok, err = readListedRef(fd, name, r.path, func() string { return w.full(r.path) })
		}
		if err != nil {
			w.fail(err)
		}
		if ok {
			refs = append(refs, r)
		}
		return nil
	})
	listed := err == nil
	if err != nil && !errors.Is(err, unix.ENOENT) && !(w.watch && errors.Is(err, unix.ENOTDIR)) {
		w.fail(err) // not removed while read: its parent's event says so
	}
	w.mu.Lock()
	w.refs = append(w.refs, refs...)
	w.stubs = append(w.stubs, stubs...)
	if w.watch && listed {
		w.dirs = append(w.dirs, scannedDir{p, wd})
	}
	w.mu.Unlock()
	if !listed {
		w.unread(wd)
	}
	w.subdirs(fd, p, subs)
}

// unread notes that the directory watched as wd was not read: gone.
func (w *refWalk) unread(wd int32) {
	if wd >= 0 {
		w.mu.Lock()
		w.stray = append(w.stray, wd)
		w.mu.Unlock()
	}
}

// subdirs reads the subdirectories subs of the directory open as fd (p
// in the walk): many in a few goroutines while there are some free, few
// here.
func (w *refWalk) subdirs(fd int, p string, subs []string) {
	read := func(subs []string) {
		for _, s := range subs {
			w.dir(fd, s, join(p, s))
		}
	}
	if len(subs) < w.split || cap(w.sem) == 0 {
		read(subs)
		return
	}
	var wg sync.WaitGroup
	size := (len(subs) + cap(w.sem)) / (cap(w.sem) + 1)
	for len(subs) > size {
		part := subs[:size]
		subs = subs[size:]
		select {
		case w.sem <- struct{}{}:
			wg.Go(func() {
				defer func() { <-w.sem }()
				read(part)
			})
		default:
			read(part)
		}
	}
	read(subs)
	wg.Wait()
}

// readListedRef reads, for a listing, the ref file name in the
// directory open as dirfd (full in the listing, at path on disk),
// following an alias: ok is false if it is gone.
func readListedRef(dirfd int, name, full string, path func() string) (c Checksum, ok bool, err error) {
	var buf [refFileMax]byte
	data, op, err := readRefBytes(dirfd, name, &buf)
	switch {
	case op == "open" && errors.Is(err, unix.ENOENT):
		return c, false, nil
	case op == "open" && errors.Is(err, unix.ELOOP):
		return c, false, fmt.Errorf("Listing refs: %w", aliasLoop(full))
	case err != nil:
		return c, false, fmt.Errorf("list refs: %s %s: %w", op, path(), err)
	}
	if c, err = ParseChecksum(string(data)); err != nil {
		return c, false, fmt.Errorf("list refs: ref file %s: %w", path(), err)
	}
	return c, true, nil
}

// refFileMax is more than a ref file holds: 64 hex digits and a newline.
const refFileMax = 128

// readRefBytes reads the ref file name in the directory open as dirfd
// with an open, one read (two if it does not end in a newline) and a
// close, and returns what it holds, trimmed; on failure, the call that
// failed ("open" or "read") and its error.
func readRefBytes(dirfd int, name string, buf *[refFileMax]byte) (data []byte, op string, err error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "open", err
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, "read", err
		}
		n += m
		if m == 0 || n < len(buf) && buf[n-1] == '\n' {
			break // a short read of a whole line is the end of a ref file
		}
	}
	return bytes.TrimSpace(buf[:n]), "", nil
}

// direntBufs are the buffers of getdents: 32 KiB reads a directory of
// a thousand entries at once.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// eachDirent calls fn with the name and type (a DT_ constant) of each
// entry of the directory open as fd (at path()), but . and .., until fn
// fails. A directory removed while read fails with unix.ENOENT.
func eachDirent(fd int, path func() string, fn func(name []byte, typ byte) error) error {
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	for {
		n, err := unix.Getdents(fd, *bp)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("list refs in %s: %w", path(), err)
		}
		if n == 0 {
			return nil
		}
		for b := (*bp)[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return fmt.Errorf("list refs in %s: a directory entry of %d bytes", path(), reclen)
			}
			typ := b[18]
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if string(name) == "." || string(name) == ".." {
				continue
			}
			if err := fn(name, typ); err != nil {
				return err
			}
		}
	}
}

// walkRefDirs calls leaf for each entry below dir that is not a
// directory, with its ref name (prefix/PATH, PATH alone when prefix is "")
// and its path, skipping names that are not valid ref name fragments; a
// directory that cannot be listed fails the walk with what said first, an
// absent one is empty.
func walkRefDirs(dir, prefix, what string, leaf func(full, p string, e fs.DirEntry) error) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, e := range ents {
		if !validFragment(e.Name()) {
			continue
		}
		full := e.Name()
		if prefix != "" {
			full = prefix + "/" + e.Name()
		}
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			err = walkRefDirs(p, full, what, leaf)
		} else {
			err = leaf(full, p, e)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// listDir returns the valid fragment names in dir, or none if it is absent.
func (r *Repo) listDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && validFragment(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// AllRefs returns every ref of the repository, local, remote-tracking and
// mirrored, by its path under refs/: "heads/os/main",
// "remotes/origin/os/main", "mirrors/org.example.Os/os/main".
func (r *Repo) AllRefs() (map[string]Checksum, error) {
	refs, err := r.ListRefs("", false)
	if err != nil {
		return nil, err
	}
	mirrors, err := r.ListMirrorRefs()
	if err != nil {
		return nil, err
	}
	out := make(map[string]Checksum, len(refs)+len(mirrors))
	for _, ref := range refs {
		p := "heads/" + ref.Name
		if ref.Remote != "" {
			p = "remotes/" + ref.Remote + "/" + ref.Name
		}
		out[p] = ref.Checksum
	}
	for _, ref := range mirrors {
		out["mirrors/"+ref.Collection+"/"+ref.Name] = ref.Checksum
	}
	return out, nil
}
