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
	"time"

	"github.com/repofs/repofs/repo/gvariant"
	"github.com/repofs/repofs/tmpdir"
)

// ReadSummary reads and decodes the repository's summary file.
func (r *Repo) ReadSummary() (*Summary, error) {
	data, err := os.ReadFile(filepath.Join(r.path, "summary"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read summary of %s: no summary file (run 'repofs summary -u'): %w", r.path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read summary of %s: %w", r.path, err)
	}
	s, err := DecodeSummary(data)
	if err != nil {
		return nil, fmt.Errorf("read summary of %s: %w", r.path, err)
	}
	return s, nil
}

// UpdateSummary regenerates the summary file from refs/heads, with the
// metadata keys ostree writes, and removes any stale summary.sig. It is
// written in tmp/summary-XXXXXX and renamed into place.
func (r *Repo) UpdateSummary(ctx context.Context, now time.Time) error {
	return r.UpdateSummarySigned(ctx, now, nil)
}

// UpdateSummarySigned is UpdateSummary that, when sign is set, also writes
// summary.sig: sign gets the new summary's bytes and returns the
// summary.sig bytes (detached metadata holding the signatures). Both files
// are staged together and summary.sig is renamed into place first, so a
// client never sees the new summary with no signature.
func (r *Repo) UpdateSummarySigned(ctx context.Context, now time.Time, sign func(summary []byte) ([]byte, error)) error {
	lock, err := r.lockRepo(ctx, tmpdir.Shared)
	if err != nil {
		return err
	}
	defer lock.Close()
	refs, err := r.ListRefs("", false)
	if err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	var s gvariant.Summary
	for _, ref := range refs {
		if ref.Remote != "" {
			continue // only refs/heads are published
		}
		data, err := r.readMetadata(ref.Checksum, ObjCommit)
		if err != nil {
			return fmt.Errorf("update summary: ref %s: %w", ref, err)
		}
		c, err := decodeCommit(ref.Checksum, data)
		if err != nil {
			return fmt.Errorf("update summary: ref %s: %w", ref, err)
		}
		md := gvariant.Metadata{{Key: "ostree.commit.timestamp", Value: gvariant.Uint64BEVariant(uint64(c.Timestamp.Unix()))}}
		if v, ok := c.Version(); ok {
			md = append(md, gvariant.Entry{Key: "ostree.commit.version", Value: gvariant.StringVariant(v)})
		}
		s.Refs = append(s.Refs, gvariant.SummaryRef{Name: ref.Name, CommitSize: uint64(len(data)), Checksum: clone32(ref.Checksum), Metadata: md})
	}
	tombstones, _ := r.config.Bool("core", "tombstone-commits", false)
	s.Metadata = gvariant.Metadata{
		{Key: "ostree.summary.mode", Value: gvariant.StringVariant(r.mode.String())},
		{Key: "ostree.summary.last-modified", Value: gvariant.Uint64BEVariant(uint64(now.Unix()))},
		{Key: "ostree.summary.tombstone-commits", Value: gvariant.BoolVariant(tombstones)},
		{Key: "ostree.summary.indexed-deltas", Value: gvariant.BoolVariant(true)},
	}
	deltas, err := r.staticDeltaDigests()
	if err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	noDeltas, err := r.config.Bool("core", "no-deltas-in-summary", false)
	if err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	if len(deltas) > 0 && !noDeltas {
		var m gvariant.Metadata
		for _, d := range deltas {
			m = append(m, gvariant.Entry{Key: d.name(), Value: gvariant.BytesVariant(d.digest[:])})
		}
		s.Metadata = append(s.Metadata, gvariant.Entry{Key: "ostree.static-deltas", Value: gvariant.Variant{Type: "a{sv}", Data: gvariant.EncodeMetadata(m)}})
	}
	if err := r.reindexDeltas(deltas); err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Join(r.path, "tmp"), "summary-")
	if err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	defer os.RemoveAll(tmp)
	data := gvariant.EncodeSummary(s)
	staged := filepath.Join(tmp, "summary")
	if err := WriteFileAtomic(staged, data, 0o644); err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	if sign != nil {
		sig, err := sign(data)
		if err != nil {
			return fmt.Errorf("update summary: sign: %w", err)
		}
		stagedSig := filepath.Join(tmp, "summary.sig")
		if err := WriteFileAtomic(stagedSig, sig, 0o644); err != nil {
			return fmt.Errorf("update summary: %w", err)
		}
		if err := os.Rename(stagedSig, filepath.Join(r.path, "summary.sig")); err != nil {
			return fmt.Errorf("update summary: %w", err)
		}
	} else if err := os.Remove(filepath.Join(r.path, "summary.sig")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("update summary: remove stale summary.sig: %w", err)
	}
	if err := os.Rename(staged, filepath.Join(r.path, "summary")); err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	return fsyncDir(r.path)
}

// deltaDigest is a static delta and the SHA-256 of its superblock file.
type deltaDigest struct {
	deltaDir
	digest [32]byte
}

// name is the delta's name as summaries list it: "FROM-TO" or "TO".
func (d *deltaDigest) name() string {
	if d.from == "" {
		return d.to
	}
	return d.from + "-" + d.to
}

// staticDeltaDigests lists the repository's static deltas, sorted by
// name, each with the digest of its superblock.
func (r *Repo) staticDeltaDigests() ([]deltaDigest, error) {
	dirs, err := r.listStaticDeltas()
	if err != nil {
		return nil, fmt.Errorf("list static deltas: %w", err)
	}
	out := make([]deltaDigest, 0, len(dirs))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d.path, "superblock"))
		if err != nil {
			return nil, fmt.Errorf("static delta %s: %w", d.path, err)
		}
		out = append(out, deltaDigest{deltaDir: d, digest: sha256.Sum256(data)})
	}
	slices.SortFunc(out, func(a, b deltaDigest) int { return strings.Compare(a.name(), b.name()) })
	return out, nil
}

// hexToMB64 spells a hex checksum in ostree's modified base64.
func hexToMB64(h string) (string, error) {
	c, err := ParseChecksum(h)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(c[:]), "/", "_"), nil
}

// reindexDeltas writes delta-indexes/XX/REST.index for every commit that
// deltas lead to, as ostree_repo_static_delta_reindex does: an a{sv} whose
// ostree.static-deltas maps each delta's name to its superblock's
// digest, deltas sorted by their from-commit (scratch first). Indexes of
// commits no delta leads to any more are removed; an index that would not
// change is not rewritten.
func (r *Repo) reindexDeltas(deltas []deltaDigest) error {
	byTo := map[string][]deltaDigest{}
	for _, d := range deltas {
		byTo[d.to] = append(byTo[d.to], d)
	}
	top := filepath.Join(r.path, "delta-indexes")
	want := map[string]bool{}
	for to, ds := range byTo {
		slices.SortFunc(ds, func(a, b deltaDigest) int { return strings.Compare(a.from, b.from) })
		var m gvariant.Metadata
		for _, d := range ds {
			m = append(m, gvariant.Entry{Key: d.name(), Value: gvariant.BytesVariant(d.digest[:])})
		}
		data := gvariant.EncodeMetadata(gvariant.Metadata{{Key: "ostree.static-deltas", Value: gvariant.Variant{Type: "a{sv}", Data: gvariant.EncodeMetadata(m)}}})
		b, err := hexToMB64(to)
		if err != nil {
			return err
		}
		path := filepath.Join(top, b[:2], b[2:]+".index")
		want[path] = true
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("delta index: %w", err)
		}
		if err := WriteFileAtomic(path, data, 0o644); err != nil {
			return fmt.Errorf("delta index: %w", err)
		}
	}
	old, err := filepath.Glob(filepath.Join(top, "*", "*.index"))
	if err != nil {
		return fmt.Errorf("delta index: %w", err)
	}
	for _, p := range old {
		if !want[p] {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale delta index: %w", err)
			}
		}
	}
	return nil
}
