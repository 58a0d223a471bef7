package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/repofs/repofs/repo/gvariant"
	"github.com/repofs/repofs/tmpdir"
)

// ErrInvalidRev means a string given where a commit checksum is required
// is not one; its message is ostree's.
var ErrInvalidRev = errors.New("invalid rev")

// ValidateChecksumString checks s as ostree_validate_checksum_string
// does, with its messages: "Invalid rev S" for a wrong length (S cut to
// 64 bytes), "Invalid character 'N' in rev 'S'" for a byte that is not a
// lower-case hex digit.
func ValidateChecksumString(s string) error {
	if len(s) != 64 {
		return &revError{"Invalid rev " + quash(s[:min(len(s), 64)])}
	}
	for i := 0; i < len(s); i++ {
		if !isLowerHex(s[i]) {
			return &revError{fmt.Sprintf("Invalid character '%d' in rev '%s'", s[i], s)}
		}
	}
	return nil
}

// quash makes s printable as ostree's quash_string_for_error_message
// does: each byte that is not valid UTF-8 becomes U+FFFD (as
// g_utf8_make_valid), each newline a space.
func quash(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteRune(utf8.RuneError)
			n = 1
		case r == '\n':
			b.WriteByte(' ')
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

type revError struct{ msg string }

func (e *revError) Error() string { return e.msg }
func (e *revError) Unwrap() error { return ErrInvalidRev }

// StaticDelta is a delta of the repository, by its from (zero with
// Scratch) and to commits.
type StaticDelta struct {
	From, To Checksum
	Scratch  bool
}

// Name is the delta's name as ostree spells it: "FROM-TO", or "TO".
func (d StaticDelta) Name() string {
	if d.Scratch {
		return d.To.String()
	}
	return d.From.String() + "-" + d.To.String()
}

// mb64 spells a checksum in ostree's modified base64: unpadded standard
// base64 with '/' written '_'.
func mb64(c Checksum) string {
	return strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(c[:]), "/", "_")
}

func fromMB64(s string) (Checksum, bool) {
	var c Checksum
	b, err := base64.RawStdEncoding.DecodeString(strings.ReplaceAll(s, "_", "/"))
	if err != nil || len(b) != len(c) {
		return c, false
	}
	copy(c[:], b)
	return c, true
}

// dir is the delta's directory, relative to the repository.
func (d StaticDelta) dir() string {
	t := mb64(d.To)
	if d.Scratch {
		return filepath.Join("deltas", t[:2], t[2:])
	}
	f := mb64(d.From)
	return filepath.Join("deltas", f[:2], f[2:]+"-"+t)
}

// deltaIndexPath is the delta index of commit to, relative to the
// repository.
func deltaIndexPath(to Checksum) string {
	t := mb64(to)
	return filepath.Join("delta-indexes", t[:2], t[2:]+".index")
}

// readDirOrder lists a directory in the order the kernel returns its
// entries (as readdir does, and so ostree), not sorted.
func readDirOrder(dir string) ([]fs.DirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// StaticDeltasDirOrder lists the deltas (deltas/XX/REST directories
// holding a superblock) in directory order, as
// ostree_repo_list_static_delta_names does; names that are not modified
// base64 checksums are skipped.
func (r *Repo) StaticDeltasDirOrder() ([]StaticDelta, error) {
	top := filepath.Join(r.path, "deltas")
	ents, err := readDirOrder(top)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list static deltas: %w", err)
	}
	var out []StaticDelta
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		subs, err := readDirOrder(filepath.Join(top, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("list static deltas: %w", err)
		}
		for _, s := range subs {
			if !s.IsDir() {
				continue
			}
			if _, err := os.Stat(filepath.Join(top, e.Name(), s.Name(), "superblock")); err != nil {
				continue
			}
			var d StaticDelta
			ok := false
			if from, to, dash := strings.Cut(e.Name()+s.Name(), "-"); dash {
				if d.From, ok = fromMB64(from); ok {
					d.To, ok = fromMB64(to)
				}
			} else {
				d.To, ok = fromMB64(from)
				d.Scratch = true
			}
			if ok {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// superblockDigest is the SHA-256 of the delta's superblock file, which
// summaries and delta indexes give for it.
func (r *Repo) superblockDigest(d StaticDelta) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(r.path, d.dir(), "superblock"))
	if err != nil {
		return nil, fmt.Errorf("static delta %s: %w", d.Name(), err)
	}
	sum := sha256.Sum256(data)
	return sum[:], nil
}

// StaticDeltaIndexes lists the commits delta-indexes/ holds an index
// for, in directory order, as ostree_repo_list_static_delta_indexes does:
// regular files XX/REST.index of a two-character directory, REST 41
// characters.
func (r *Repo) StaticDeltaIndexes() ([]Checksum, error) {
	top := filepath.Join(r.path, "delta-indexes")
	ents, err := readDirOrder(top)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list static delta indexes: %w", err)
	}
	var out []Checksum
	for _, e := range ents {
		if !e.IsDir() || len(e.Name()) != 2 {
			continue
		}
		subs, err := readDirOrder(filepath.Join(top, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("list static delta indexes: %w", err)
		}
		for _, s := range subs {
			name, ok := strings.CutSuffix(s.Name(), ".index")
			if !s.Type().IsRegular() || !ok || len(name) != 41 {
				continue
			}
			if c, ok := fromMB64(e.Name() + name); ok {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// ReindexStaticDeltas rewrites delta-indexes/ as
// ostree_repo_static_delta_reindex does, under a shared repository lock:
// it first sets core.indexed-deltas=true in the config (so pulls from
// this repository know to look there), then, for *to (a checksum) or,
// when to is nil, for every commit a delta leads to or an index exists
// for, writes the index of the deltas to it or removes an index no delta
// backs. A *to that is not a checksum is an ErrInvalidRev, after the
// config was set, as with ostree.
func (r *Repo) ReindexStaticDeltas(ctx context.Context, to *string) error {
	lock, err := r.lockRepo(ctx, tmpdir.Shared)
	if err != nil {
		return err
	}
	defer lock.Close()
	return r.reindexStaticDeltas(to)
}

func (r *Repo) reindexStaticDeltas(to *string) error {
	if err := r.setIndexedDeltas(); err != nil {
		return fmt.Errorf("reindex static deltas: %w", err)
	}
	// Every commit to index, mapped to the deltas leading to it; an
	// index with none is removed.
	byTo := map[Checksum][]StaticDelta{}
	var order []Checksum
	add := func(c Checksum) {
		if _, ok := byTo[c]; !ok {
			byTo[c] = nil
			order = append(order, c)
		}
	}
	var only Checksum
	if to == nil {
		old, err := r.StaticDeltaIndexes()
		if err != nil {
			return fmt.Errorf("reindex static deltas: %w", err)
		}
		for _, c := range old {
			add(c)
		}
	} else {
		if err := ValidateChecksumString(*to); err != nil {
			return err
		}
		only, _ = ParseChecksum(*to)
		add(only)
	}
	deltas, err := r.StaticDeltasDirOrder()
	if err != nil {
		return fmt.Errorf("reindex static deltas: %w", err)
	}
	for _, d := range deltas {
		if to != nil && d.To != only {
			continue
		}
		add(d.To)
		byTo[d.To] = append(byTo[d.To], d)
	}
	for _, c := range order {
		if err := r.writeDeltaIndex(c, byTo[c]); err != nil {
			return fmt.Errorf("reindex static deltas: %w", err)
		}
	}
	return nil
}

// setIndexedDeltas sets core.indexed-deltas=true in the config unless it
// is already true.
func (r *Repo) setIndexedDeltas() error {
	if on, err := r.config.Bool("core", "indexed-deltas", false); err != nil || on {
		return err
	}
	k, err := r.ReadKeyFile()
	if err != nil {
		return err
	}
	if v, err := k.GetString("core", "indexed-deltas"); err == nil {
		if on, ok := ParseBool(v); ok && on {
			return nil
		}
	}
	k.SetString("core", "indexed-deltas", "true")
	return r.WriteKeyFile(k)
}

// writeDeltaIndex writes the index of deltas (all leading to to), or
// removes it when there are none. The index is an a{sv} whose
// ostree.static-deltas maps each delta's name to its superblock's
// digest, the deltas sorted by from-commit (scratch first) and then put
// through a GVariantDict, as ostree does. An index that would not change
// is left alone.
func (r *Repo) writeDeltaIndex(to Checksum, deltas []StaticDelta) error {
	path := filepath.Join(r.path, deltaIndexPath(to))
	if len(deltas) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove delta index: %w", err)
		}
		return nil
	}
	slices.SortStableFunc(deltas, func(a, b StaticDelta) int {
		if a.Scratch != b.Scratch {
			if a.Scratch {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.From[:], b.From[:])
	})
	m, err := r.deltaDigests(deltas)
	if err != nil {
		return err
	}
	data := gvariant.EncodeMetadata(gvariant.Metadata{{Key: "ostree.static-deltas", Value: m}})
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o775); err != nil {
		return fmt.Errorf("delta index: %w", err)
	}
	if err := WriteFileAtomic(path, data, 0o644); err != nil {
		return fmt.Errorf("delta index: %w", err)
	}
	return nil
}

// deltaDigests is the a{sv} variant mapping each delta's name to its
// superblock's digest, in the order a GVariantDict filled in the order of
// deltas gives.
func (r *Repo) deltaDigests(deltas []StaticDelta) (gvariant.Variant, error) {
	var m gvariant.Metadata
	for _, d := range deltas {
		digest, err := r.superblockDigest(d)
		if err != nil {
			return gvariant.Variant{}, err
		}
		m = append(m, gvariant.Entry{Key: d.Name(), Value: gvariant.BytesVariant(digest)})
	}
	return gvariant.Variant{Type: "a{sv}", Data: gvariant.EncodeMetadata(gvariant.DictOrder(m))}, nil
}
