package repo

import (
	"strings"

	"github.com/repofs/repofs/repo/gvariant"
)

// DirTree is a decoded, validated dirtree object.
type DirTree struct {
	Files []FileEntry // sorted by name
	Dirs  []DirEntry  // sorted by name
}

// FileEntry is a file of a directory.
type FileEntry struct {
	Name    string
	Content Checksum
}

// DirEntry is a subdirectory of a directory.
type DirEntry struct {
	Name string
	Tree Checksum
	Meta Checksum
}

// ReadDirTree reads, verifies and validates a dirtree object.
func (r *Repo) ReadDirTree(c Checksum) (*DirTree, error) {
	data, err := r.readMetadata(c, ObjDirTree)
	if err != nil {
		return nil, err
	}
	return decodeDirTree(c, data)
}

func decodeDirTree(c Checksum, data []byte) (*DirTree, error) {
	gt, err := gvariant.DecodeDirTree(data)
	if err != nil {
		return nil, corruptf(c, ObjDirTree, "%v", err)
	}
	t := &DirTree{Files: make([]FileEntry, len(gt.Files)), Dirs: make([]DirEntry, len(gt.Dirs))}
	var ok bool
	for i, f := range gt.Files {
		if err := checkName(f.Name, i, gt.Files, func(f gvariant.TreeFile) string { return f.Name }); err != "" {
			return nil, corruptf(c, ObjDirTree, "%s", err)
		}
		t.Files[i].Name = f.Name
		if t.Files[i].Content, ok = checksumFromBytes(f.Checksum); !ok {
			return nil, corruptf(c, ObjDirTree, "file %q has a checksum of %d bytes", f.Name, len(f.Checksum))
		}
	}
	for i, d := range gt.Dirs {
		if err := checkName(d.Name, i, gt.Dirs, func(d gvariant.TreeDir) string { return d.Name }); err != "" {
			return nil, corruptf(c, ObjDirTree, "%s", err)
		}
		t.Dirs[i].Name = d.Name
		t.Dirs[i].Tree, ok = checksumFromBytes(d.Tree)
		if ok {
			t.Dirs[i].Meta, ok = checksumFromBytes(d.Meta)
		}
		if !ok {
			return nil, corruptf(c, ObjDirTree, "directory %q has a checksum of the wrong size", d.Name)
		}
	}
	// A name must not be both a file and a directory.
	for i, j := 0, 0; i < len(t.Files) && j < len(t.Dirs); {
		switch strings.Compare(t.Files[i].Name, t.Dirs[j].Name) {
		case 0:
			return nil, corruptf(c, ObjDirTree, "name %q is both a file and a directory", t.Files[i].Name)
		case -1:
			i++
		default:
			j++
		}
	}
	return t, nil
}

// checkName validates entry i of a sorted list; it returns a description of
// the problem, or "".
func checkName[T any](name string, i int, list []T, nameOf func(T) string) string {
	if err := ValidateFilename(name); err != "" {
		return err
	}
	if i > 0 {
		prev := nameOf(list[i-1])
		if prev == name {
			return "duplicate name " + quote(name)
		}
		if prev > name {
			return "names not sorted: " + quote(prev) + " before " + quote(name)
		}
	}
	return ""
}

// ValidateFilename checks a dirtree entry name; it returns a description of
// the problem, or "". Names become path components, so anything that could
// leave the directory is refused.
func ValidateFilename(name string) string {
	switch {
	case name == "":
		return "empty filename"
	case name == "." || name == "..":
		return "invalid filename " + quote(name)
	case strings.ContainsRune(name, '/'):
		return "invalid / in filename " + quote(name)
	case strings.ContainsRune(name, 0):
		return "invalid NUL in filename " + quote(name)
	}
	return ""
}

func quote(s string) string { return "'" + s + "'" }

// DirMeta is a decoded, validated dirmeta object.
type DirMeta struct {
	UID, GID, Mode uint32
	Xattrs         []Xattr
}

// ReadDirMeta reads, verifies and validates a dirmeta object.
func (r *Repo) ReadDirMeta(c Checksum) (*DirMeta, error) {
	data, err := r.readMetadata(c, ObjDirMeta)
	if err != nil {
		return nil, err
	}
	return decodeDirMeta(c, data)
}

func decodeDirMeta(c Checksum, data []byte) (*DirMeta, error) {
	m, err := gvariant.DecodeDirMeta(data)
	if err != nil {
		return nil, corruptf(c, ObjDirMeta, "%v", err)
	}
	if m.Mode&sIFMT != sIFDIR || m.Mode&^(sIFMT|07777) != 0 {
		return nil, corruptf(c, ObjDirMeta, "invalid directory mode 0%o", m.Mode)
	}
	xs, bad := xattrsFromGV(m.Xattrs)
	if bad != "" {
		return nil, corruptf(c, ObjDirMeta, "%s", bad)
	}
	return &DirMeta{m.UID, m.GID, m.Mode, xs}, nil
}

// File type bits of a mode.
const (
	sIFMT  = 0170000
	sIFDIR = 0040000
	sIFREG = 0100000
	sIFLNK = 0120000
)

// DecodeDirTree decodes and validates a dirtree object's bytes (fetched from
// a remote, say), rejecting hostile names as ReadDirTree does. c names the
// object in errors.
func DecodeDirTree(c Checksum, data []byte) (*DirTree, error) { return decodeDirTree(c, data) }
