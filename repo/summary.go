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
	md, err := r.summaryMetadata(now)
	if err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	s.Metadata = md
	if err := r.reindexStaticDeltas(nil); err != nil {
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

// summaryMetadata is the summary's a{sv} as ostree_repo_regenerate_summary
// builds it: ostree.static-deltas (every delta, in directory order, to its
// superblock's digest; left out when there are none or
// core.no-deltas-in-summary is set), ostree.summary.last-modified,
// ostree.summary.mode (core.mode as the config spells it),
// ostree.summary.tombstone-commits and ostree.summary.indexed-deltas
// (always true: summary -u writes delta-indexes/), put in that order
// through a GVariantDict, which orders them as its hash table does.
func (r *Repo) summaryMetadata(now time.Time) (gvariant.Metadata, error) {
	var md gvariant.Metadata
	noDeltas, err := r.config.Bool("core", "no-deltas-in-summary", false)
	if err != nil {
		return nil, err
	}
	if !noDeltas {
		deltas, err := r.StaticDeltasDirOrder()
		if err != nil {
			return nil, err
		}
		if len(deltas) > 0 {
			m, err := r.deltaDigests(deltas)
			if err != nil {
				return nil, err
			}
			md = append(md, gvariant.Entry{Key: "ostree.static-deltas", Value: m})
		}
	}
	mode, ok := r.config.Get("core", "mode")
	if !ok {
		mode = "bare"
	}
	tombstones, err := r.config.Bool("core", "tombstone-commits", false)
	if err != nil {
		return nil, err
	}
	md = append(md,
		gvariant.Entry{Key: "ostree.summary.last-modified", Value: gvariant.Uint64BEVariant(uint64(now.Unix()))},
		gvariant.Entry{Key: "ostree.summary.mode", Value: gvariant.StringVariant(mode)},
		gvariant.Entry{Key: "ostree.summary.tombstone-commits", Value: gvariant.BoolVariant(tombstones)},
		gvariant.Entry{Key: "ostree.summary.indexed-deltas", Value: gvariant.BoolVariant(true)},
	)
	return gvariant.DictOrder(md), nil
}
