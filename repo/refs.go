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
// another writer may do at any time. A mirror's refs/ holds tens of
// thousands of small directories below a few large ones: the
// subdirectories of a large one are read in a few goroutines, each
// directory opened through its parent (one name for the kernel to look
// up), each ref with three system calls.
func walkRefTree(dir, prefix string, fn func(name string, c Checksum)) error {
	l := &refLister{sem: make(chan struct{}, listParallel)}
	l.dir(unix.AT_FDCWD, dir, dir, prefix)
	if l.err != nil {
		return l.err
	}
	for _, r := range l.refs {
		fn(r.name, r.sum)
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

// refLister is one walkRefTree.
type refLister struct {
	sem chan struct{}

	mu   sync.Mutex
	refs []listedRef
	err  error // the first failure: the listing fails
}

type listedRef struct {
	name string
	sum  Checksum
}

func (l *refLister) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
}

// dir reads the refs of the directory name in the one open as parent
// (dir, named prefix/NAME), then its subdirectories.
func (l *refLister) dir(parent int, name, dir, prefix string) {
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return
	}
	if err != nil {
		l.fail(fmt.Errorf("list refs: open %s: %w", dir, err))
		return
	}
	defer unix.Close(fd)
	var refs []listedRef
	var subs []string
	err = eachDirent(fd, dir, func(name []byte, typ byte) error {
		if !validFragment(string(name)) {
			return nil
		}
		if typ == unix.DT_UNKNOWN {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return nil // gone meanwhile
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				typ = unix.DT_DIR
			}
		}
		if typ == unix.DT_DIR {
			subs = append(subs, string(name))
			return nil
		}
		full := join(prefix, string(name))
		c, ok, err := readListedRef(fd, string(name), full, func() string { return dir + "/" + string(name) })
		if err != nil {
			return err
		}
		if ok {
			refs = append(refs, listedRef{full, c})
		}
		return nil
	})
	if err != nil && !errors.Is(err, unix.ENOENT) { // not removed while read
		l.fail(err)
	}
	if len(refs) > 0 {
		l.mu.Lock()
		l.refs = append(l.refs, refs...)
		l.mu.Unlock()
	}
	l.subdirs(fd, dir, prefix, subs)
}

// subdirs reads the subdirectories subs of the directory open as fd:
// many in a few goroutines while there are some free, few here.
func (l *refLister) subdirs(fd int, dir, prefix string, subs []string) {
	read := func(subs []string) {
		for _, s := range subs {
			l.dir(fd, s, dir+"/"+s, join(prefix, s))
		}
	}
	if len(subs) < listSplit {
		read(subs)
		return
	}
	var wg sync.WaitGroup
	size := (len(subs) + listParallel) / (listParallel + 1)
	for len(subs) > size {
		part := subs[:size]
		subs = subs[size:]
		select {
		case l.sem <- struct{}{}:
			wg.Go(func() {
				defer func() { <-l.sem }()
				read(part)
			})
		default:
			read(part)
		}
	}
	read(subs)
	wg.Wait()
}

// readListedRef reads the ref file name in the directory open as dirfd,
// following an alias: ok is false if it is gone.
func readListedRef(dirfd int, name, full string, path func() string) (c Checksum, ok bool, err error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return c, false, nil
	case errors.Is(err, unix.ELOOP):
		return c, false, fmt.Errorf("Listing refs: %w", aliasLoop(full))
	case err != nil:
		return c, false, fmt.Errorf("list refs: open %s: %w", path(), err)
	}
	defer unix.Close(fd)
	var buf [128]byte
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return c, false, fmt.Errorf("list refs: read %s: %w", path(), err)
		}
		n += m
		if m == 0 || n < len(buf) && buf[n-1] == '\n' {
			break // a short read of a whole line is the end of a ref file
		}
	}
	if c, err = ParseChecksum(string(bytes.TrimSpace(buf[:n]))); err != nil {
		return c, false, fmt.Errorf("list refs: ref file %s: %w", path(), err)
	}
	return c, true, nil
}

// direntBufs are the buffers of getdents: 32 KiB reads a directory of
// a thousand entries at once.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// eachDirent calls fn with the name and type (a DT_ constant) of each
// entry of the directory open as fd (at path), but . and .., until fn
// fails. A directory removed while read fails with unix.ENOENT.
func eachDirent(fd int, path string, fn func(name []byte, typ byte) error) error {
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	for {
		n, err := unix.Getdents(fd, *bp)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("list refs in %s: %w", path, err)
		}
		if n == 0 {
			return nil
		}
		for b := (*bp)[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return fmt.Errorf("list refs in %s: a directory entry of %d bytes", path, reclen)
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
