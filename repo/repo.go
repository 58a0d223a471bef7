package repo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mode is how a repository represents content objects on disk.
type Mode int

// Repository modes.
const (
	ModeBare Mode = iota
	ModeArchive
	ModeBareUser
	ModeBareUserOnly
	ModeBareSplitXattrs
)

// String returns the name ostree writes in config for m.
func (m Mode) String() string {
	switch m {
	case ModeBare:
		return "bare"
	case ModeArchive:
		return "archive-z2"
	case ModeBareUser:
		return "bare-user"
	case ModeBareUserOnly:
		return "bare-user-only"
	case ModeBareSplitXattrs:
		return "bare-split-xattrs"
	}
	return fmt.Sprintf("mode%d", int(m))
}

// ParseMode parses a mode name as ostree accepts it in config and on the
// command line ("archive" and "archive-z2" are synonyms).
func ParseMode(s string) (Mode, error) {
	switch s {
	case "bare":
		return ModeBare, nil
	case "archive", "archive-z2":
		return ModeArchive, nil
	case "bare-user":
		return ModeBareUser, nil
	case "bare-user-only":
		return ModeBareUserOnly, nil
	case "bare-split-xattrs":
		return ModeBareSplitXattrs, nil
	}
	return 0, fmt.Errorf("invalid mode %q (want archive, bare, bare-user or bare-user-only)", s)
}

// MaxMetadataSize bounds metadata objects, as OSTREE_MAX_METADATA_SIZE does.
const MaxMetadataSize = 128 << 20

// Repo is an open repository.
type Repo struct {
	path    string
	objects string // path/objects, cleaned
	mode    Mode
	config  *Config
}

// Open opens the repository at path for reading.
func Open(path string) (*Repo, error) {
	if _, err := os.Stat(filepath.Join(path, "objects")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open repository %s: not an OSTree repository (no objects/ directory); create one with 'repofs init': %w", path, ErrNotFound)
		}
		return nil, fmt.Errorf("open repository %s: %w", path, err)
	}
	data, err := os.ReadFile(filepath.Join(path, "config"))
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", path, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("open repository %s: config: %w", path, err)
	}
	if v, _ := cfg.Get("core", "repo_version"); v != "1" {
		return nil, fmt.Errorf("open repository %s: invalid repository version %q in config", path, v)
	}
	if archive, err := cfg.Bool("core", "archive", false); err != nil || archive {
		return nil, fmt.Errorf("open repository %s: config sets the legacy 'archive' key, which is no longer supported", path)
	}
	mode := ModeBare
	if v, ok := cfg.Get("core", "mode"); ok {
		if mode, err = ParseMode(v); err != nil {
			return nil, fmt.Errorf("open repository %s: config: %w", path, err)
		}
	}
	if mode == ModeBareSplitXattrs {
		return nil, fmt.Errorf("open repository %s: mode bare-split-xattrs is experimental in ostree and not supported", path)
	}
	return &Repo{path: path, objects: filepath.Join(path, "objects"), mode: mode, config: cfg}, nil
}

// Path returns the repository's directory.
func (r *Repo) Path() string { return r.path }

// Mode returns the repository's mode.
func (r *Repo) Mode() Mode { return r.mode }

// Config returns the repository's parsed config.
func (r *Repo) Config() *Config { return r.config }

// objectPath returns the path of an object, relative to the repository.
// One allocation: every object read builds one.
// ObjectPath is the file that holds object c of type t in r, for messages
// that point a user at it; reads go through r's methods.
func (r *Repo) ObjectPath(c Checksum, t ObjectType) string { return r.objectPath(c, t) }

func (r *Repo) objectPath(c Checksum, t ObjectType) string {
	ext := t.Ext()
	if t == ObjFile && r.mode == ModeArchive {
		ext = "filez"
	}
	var h [2 * len(c)]byte
	hex.Encode(h[:], c[:])
	var b strings.Builder
	b.Grow(len(r.objects) + 2 + len(h) + 1 + len(ext))
	b.WriteString(r.objects)
	b.WriteByte('/')
	b.Write(h[:2])
	b.WriteByte('/')
	b.Write(h[2:])
	b.WriteByte('.')
	b.WriteString(ext)
	return b.String()
}

// HasObject reports whether the object is present in objects/.
func (r *Repo) HasObject(c Checksum, t ObjectType) (bool, error) {
	_, err := os.Lstat(r.objectPath(c, t))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// readMetadata reads a metadata object whole and, for content-addressed
// types, checks its checksum.
func (r *Repo) readMetadata(c Checksum, t ObjectType) ([]byte, error) {
	return readMetadataAt(r.objectPath(c, t), c, t)
}

func readMetadataAt(p string, c Checksum, t ObjectType) ([]byte, error) {
	// Bare system calls: an *os.File costs several more per object
	// (non-blocking mode, the poller), which a checkout pays per
	// directory of its walk.
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, missing(c, t)
		}
		return nil, &ObjectError{c.String() + "." + t.Ext(), &fs.PathError{Op: "open", Path: p, Err: err}}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &ObjectError{c.String() + "." + t.Ext(), err}
	}
	if st.Size > MaxMetadataSize {
		return nil, corruptf(c, t, "size %d exceeds the metadata limit of %d bytes", st.Size, MaxMetadataSize)
	}
	data := make([]byte, st.Size)
	if err := preadFull(fd, data, 0); err != nil {
		return nil, &ObjectError{c.String() + "." + t.Ext(), err}
	}
	if t != ObjCommitMeta && t != ObjTombstone {
		if got := Checksum(sha256.Sum256(data)); got != c {
			return nil, corruptf(c, t, "checksum expected='%s' actual='%s'", c, got)
		}
	}
	return data, nil
}
