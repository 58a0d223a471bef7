package repo

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/repofs/repofs/repo/gvariant"
)

// TarOptions controls WriteTar.
type TarOptions struct {
	// AutocreateParents creates missing parent directories, owned by the
	// entry's owner in the archive, mode 0755 (--tar-autocreate-parents).
	AutocreateParents bool
	// Translate, when set, rewrites each relative path (and hardlink
	// target) before it is used (--tar-pathname-filter).
	Translate func(path string) string
}

// ErrUnsupportedTarEntry is a tar entry that is no file, directory or
// symlink (device, FIFO).
var ErrUnsupportedTarEntry = errors.New("unsupported file type")

// WriteTar stages the files of the tar stream and merges its entries
// into t, as ostree commit --tree=tar= does (through libarchive):
//
//   - paths lose leading "/" and "./"; "." is the root; ".." is refused;
//   - a directory entry sets that directory's metadata (the root's too);
//     a file entry replaces the file of that name;
//   - a missing parent is an error, or with AutocreateParents the root and
//     every parent get metadata 0755 owned by the entry's owner in the
//     archive (as ostree does, even parents that exist);
//   - xattrs come from PAX SCHILY.xattr.NAME and LIBARCHIVE.xattr.NAME
//     records, in reverse archive order as libarchive lists them (the
//     order is part of the content checksum); DirOptions.NoXattrs and
//     bare-user-only repositories drop them, CanonicalPermissions keeps
//     them (ostree's tar import only honours its skip-xattrs flag); the
//     other DirOptions apply to the owner and mode as for a directory;
//   - a hardlink takes its target's content once the archive is read (a
//     link with data gives that data to its target and all other links);
//   - devices and FIFOs fail with ErrUnsupportedTarEntry.
//
// With AutocreateParents, a tree that still has no root metadata gets a
// root owned by 0:0, mode 0755.
func (tx *Transaction) WriteTar(ctx context.Context, r io.Reader, t *MutableTree, o DirOptions, to TarOptions) error {
	ti := &tarImport{tx: tx, o: o, to: to, root: t, links: map[string][]*tarLink{}}
	rec := &recorder{r: r}
	tr := tar.NewReader(rec)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec.buf = rec.buf[:0]
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("ostree-tar: reading the archive: %w", err)
		}
		if err := ti.entry(h, tr, paxRecords(rec.buf)); err != nil {
			return err
		}
		// The rest of the entry's data, so that the next header's
		// blocks are all the recorder holds.
		rec.buf = nil
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("ostree-tar: reading the archive: %w", err)
		}
	}
	if err := ti.hardlinks(); err != nil {
		return err
	}
	if to.AutocreateParents && !t.HasMeta() {
		fi := &FileInfo{Mode: sIFDIR | 0o755}
		if !ti.modify("/", fi) {
			return nil
		}
		c, err := tx.writeDirMeta(fi, nil)
		if err != nil {
			return err
		}
		t.SetMeta(c)
	}
	return nil
}

type tarImport struct {
	tx    *Transaction
	o     DirOptions
	to    TarOptions
	root  *MutableTree
	links map[string][]*tarLink // by target path
	order []string              // targets in the order first seen
}

type tarLink struct {
	parent *MutableTree
	name   string
	size   int64
}

func (tx *Transaction) writeDirMeta(fi *FileInfo, xs []Xattr) (Checksum, error) {
	m := gvariant.DirMeta{UID: fi.UID, GID: fi.GID, Mode: fi.Mode, Xattrs: xattrsToGV(xs)}
	return tx.WriteMetadata(ObjDirMeta, gvariant.EncodeDirMeta(m), nil)
}

// relPath makes an archive path relative, as ostree's path_relative does.
func tarRelPath(p string) string {
	for strings.HasPrefix(p, "/") {
		p = p[1:]
		if strings.HasPrefix(p, "../") {
			p = p[2:]
		}
	}
	for {
		if strings.HasPrefix(p, "./") {
			p = p[2:]
		} else if strings.HasPrefix(p, "/") {
			p = p[1:]
		} else {
			break
		}
	}
	if p == "." {
		p = ""
	}
	return p
}

// splitTarPath returns the components of p without "." and empty ones.
func splitTarPath(p string) ([]string, error) {
	var out []string
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "..":
			return nil, fmt.Errorf("Invalid uplink '..' in path %s", p)
		case ".", "":
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

func (ti *tarImport) finalPath(p string) (string, error) {
	p = tarRelPath(p)
	if _, err := splitTarPath(p); err != nil {
		return "", fmt.Errorf("While making relative path \"%s\":%w", p, err)
	}
	if ti.to.Translate != nil {
		p = ti.to.Translate(p)
	}
	return p, nil
}

// modify applies the owner, mode and filter options to fi; false: the
// filter leaves the entry out.
func (ti *tarImport) modify(abspath string, fi *FileInfo) bool {
	ti.o.filter(fi)
	if ti.o.Filter != nil && !ti.o.Filter(abspath, fi) {
		return false
	}
	if ti.o.CanonicalPermissions || ti.tx.r.mode == ModeBareUserOnly {
		fi.UID, fi.GID = 0, 0
		if !fi.IsSymlink() {
			fi.Mode &= sIFMT | 0o755
		}
	}
	return true
}

func (ti *tarImport) entry(h *tar.Header, body io.Reader, recs [][2]string) error {
	p, err := ti.finalPath(h.Name)
	if err != nil {
		return err
	}
	// Directories' trailing slashes go, as in ostree (a lone "/" stays).
	for len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	fi := &FileInfo{UID: uint32(h.Uid), GID: uint32(h.Gid), Mode: uint32(h.Mode) & 0o7777}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeLink, tar.TypeGNUSparse:
		fi.Mode |= sIFREG
		fi.Size = uint64(h.Size)
	case tar.TypeDir:
		fi.Mode |= sIFDIR
	case tar.TypeSymlink:
		fi.Mode |= sIFLNK
		fi.Target = h.Linkname
	default:
		return fmt.Errorf("ostree-tar: %w for path \"%s\"", ErrUnsupportedTarEntry, p)
	}
	if !ti.modify("/"+p, fi) {
		return nil
	}
	parent, err := ti.parentDir(p, h)
	if err != nil {
		return err
	}
	comps, _ := splitTarPath(p)
	name := ""
	if len(comps) > 0 {
		name = comps[len(comps)-1]
	}
	xs := ti.xattrs(recs)
	if fi.Mode&sIFMT == sIFDIR {
		d := parent
		if name != "" {
			if d, err = parent.EnsureDir(name); err != nil {
				return fmt.Errorf("ostree-tar: Failed to handle directory: %w", err)
			}
		}
		c, err := ti.tx.writeDirMeta(fi, xs)
		if err != nil {
			return err
		}
		d.SetMeta(c)
		return nil
	}
	if name == "" {
		return fmt.Errorf("ostree-tar: a file entry %q names the root", h.Name)
	}
	var link string
	if h.Typeflag == tar.TypeLink {
		if link, err = ti.finalPath(h.Linkname); err != nil {
			return err
		}
	}
	if link == "" || h.Size > 0 {
		fi.Xattrs = xs
		var payload io.Reader
		if fi.Mode&sIFMT == sIFREG {
			payload = body
		}
		c, err := ti.tx.WriteContent(fi, payload, nil)
		if err != nil {
			return fmt.Errorf("ostree-tar: Failed to import file %s: %w", p, err)
		}
		if err := parent.ReplaceFile(name, c); err != nil {
			return fmt.Errorf("ostree-tar: Failed to import file: %w", err)
		}
	}
	if link != "" {
		if _, ok := ti.links[link]; !ok {
			ti.order = append(ti.order, link)
		}
		ti.links[link] = append(ti.links[link], &tarLink{parent: parent, name: name, size: h.Size})
	}
	return nil
}

// parentDir returns the directory that holds p, creating it (and the
// metadata of every directory above) with AutocreateParents.
func (ti *tarImport) parentDir(p string, h *tar.Header) (*MutableTree, error) {
	comps, err := splitTarPath(p)
	if err != nil {
		return nil, err
	}
	if len(comps) == 0 {
		return ti.root, nil
	}
	d, err := ti.root.walk(comps[:len(comps)-1])
	if err == nil {
		return d, nil
	}
	if !ti.to.AutocreateParents {
		return nil, fmt.Errorf("ostree-tar: %w", err)
	}
	// As ostree: the root and each parent, existing or not, get the
	// metadata of a 0755 directory owned as the entry is in the archive,
	// written for each (the transaction counts every write, as ostree's).
	fi := &FileInfo{UID: uint32(h.Uid), GID: uint32(h.Gid), Mode: sIFDIR | 0o755}
	c, err := ti.tx.writeDirMeta(fi, nil)
	if err != nil {
		return nil, err
	}
	d = ti.root
	d.SetMeta(c)
	for _, name := range comps[:len(comps)-1] {
		if d, err = d.EnsureDir(name); err != nil {
			return nil, fmt.Errorf("ostree-tar: Failed to create parent: %w", err)
		}
		if c, err = ti.tx.writeDirMeta(fi, nil); err != nil {
			return nil, err
		}
		d.SetMeta(c)
	}
	return d, nil
}

// xattrs are the entry's extended attributes from its PAX records
// (recs, in the archive's order), last record first as libarchive lists
// them.
func (ti *tarImport) xattrs(recs [][2]string) []Xattr {
	if ti.o.NoXattrs || ti.tx.r.mode == ModeBareUserOnly {
		return nil
	}
	var xs []Xattr
	for i := len(recs) - 1; i >= 0; i-- {
		k, v := recs[i][0], recs[i][1]
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			xs = append(xs, Xattr{Name: name, Value: []byte(v)})
		} else if enc, ok := strings.CutPrefix(k, "LIBARCHIVE.xattr."); ok {
			name, err := url.PathUnescape(enc)
			if err != nil {
				continue
			}
			val, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "="))
			if err != nil {
				continue
			}
			xs = append(xs, Xattr{Name: name, Value: val})
		}
	}
	return xs
}

// paxRecords returns the records of the PAX extended header ('x') among
// the header blocks raw, in their order; Go's archive/tar keeps them in
// a map, which loses the order xattrs are recorded in.
func paxRecords(raw []byte) [][2]string {
	var out [][2]string
	raw = raw[len(raw)%512:] // the padding of the entry before
	for len(raw) >= 512 {
		blk := raw[:512]
		raw = raw[512:]
		size, ok := parseOctal(blk[124:136])
		if !ok {
			return out
		}
		n := (size + 511) / 512 * 512
		if blk[156] != 'x' || n > int64(len(raw)) {
			if n <= int64(len(raw)) && (blk[156] == 'g' || blk[156] == 'L' || blk[156] == 'K') {
				raw = raw[n:]
				continue
			}
			return out
		}
		data := raw[:size]
		raw = raw[n:]
		for len(data) > 0 {
			sp := bytes.IndexByte(data, ' ')
			if sp <= 0 {
				break
			}
			l, err := strconv.Atoi(string(data[:sp]))
			if err != nil || l <= sp+1 || l > len(data) {
				break
			}
			rec := data[sp+1 : l-1]
			data = data[l:]
			if k, v, ok := bytes.Cut(rec, []byte("=")); ok {
				out = append(out, [2]string{string(k), string(v)})
			}
		}
	}
	return out
}

func parseOctal(b []byte) (int64, bool) {
	s := strings.TrimRight(strings.TrimLeft(string(b), " "), " \x00")
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 8, 64)
	return n, err == nil && n >= 0
}

// recorder keeps the bytes read through it since the last reset: the
// header blocks tar.Reader read for the next entry.
type recorder struct {
	r   io.Reader
	buf []byte
}

func (rc *recorder) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	if len(rc.buf) < 1<<20 {
		rc.buf = append(rc.buf, p[:n]...)
	}
	return n, err
}

// hardlinks gives each hardlink its target's content once the archive
// is read, as ostree defers them.
func (ti *tarImport) hardlinks() error {
	for _, target := range ti.order {
		links := ti.links[target]
		comps, err := splitTarPath(target)
		if err != nil || len(comps) == 0 {
			return fmt.Errorf("ostree-tar: Processing deferred hardlink %s: bad target", target)
		}
		parent, err := ti.root.walk(comps[:len(comps)-1])
		if err != nil {
			return fmt.Errorf("ostree-tar: Processing deferred hardlink %s: Failed to find object: %w", target, err)
		}
		name := comps[len(comps)-1]
		for _, l := range links {
			if l.size == 0 {
				continue
			}
			if c, _ := l.parent.lookup(l.name); c != nil {
				if err := parent.ReplaceFile(name, *c); err != nil {
					return fmt.Errorf("ostree-tar: Processing deferred hardlink %s: %w", target, err)
				}
			}
			break
		}
		c, d := parent.lookup(name)
		if d != nil {
			return fmt.Errorf("ostree-tar: Processing deferred hardlink %s: Expected hardlink file target at \"%s\" but found a directory", target, target)
		}
		if c == nil {
			return fmt.Errorf("ostree-tar: Processing deferred hardlink %s: Failed to find object: %w", target, ErrNotFound)
		}
		for _, l := range links {
			if err := l.parent.ReplaceFile(l.name, *c); err != nil {
				return fmt.Errorf("ostree-tar: Processing deferred hardlink %s: Failed to replace file: %w", target, err)
			}
		}
	}
	return nil
}
