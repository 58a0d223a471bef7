package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/repofs/repofs/repo/gvariant"
	"github.com/repofs/repofs/tmpdir"
)

// ReadSummary reads and decodes the repository's summary file.
func (r *Repo) ReadSummary() (*gvariant.Summary, error) {
	data, err := os.ReadFile(filepath.Join(r.path, "summary"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read summary of %s: no summary file (run 'repofs summary -u'): %w", r.path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read summary of %s: %w", r.path, err)
	}
	s, err := gvariant.DecodeSummary(data)
	if err != nil {
		return nil, fmt.Errorf("read summary of %s: %w: %v", r.path, ErrCorrupt, err)
	}
	return &s, nil
}

// UpdateSummary regenerates the summary file from refs/heads, with the
// metadata keys ostree writes, and removes any stale summary.sig. It is
// written in tmp/summary-XXXXXX and renamed into place.
func (r *Repo) UpdateSummary(ctx context.Context, now time.Time) error {
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
	tmp, err := os.MkdirTemp(filepath.Join(r.path, "tmp"), "summary-")
	if err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	defer os.RemoveAll(tmp)
	staged := filepath.Join(tmp, "summary")
	if err := writeFileAtomic(staged, gvariant.EncodeSummary(s), 0o644); err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	if err := os.Rename(staged, filepath.Join(r.path, "summary")); err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	if err := os.Remove(filepath.Join(r.path, "summary.sig")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("update summary: remove stale summary.sig: %w", err)
	}
	return fsyncDir(r.path)
}
