package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
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
	// Only refs/heads is published.
	refs, err := r.walkRefs("", "", "")
	if err != nil {
		return fmt.Errorf("update summary: %w", err)
	}
	sortRefs(refs)
	s, err := r.summaryRefs(refs)
	if err != nil {
		return err
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

// summaryRefs returns the summary's entries of refs, reading each commit
// once (a mirror's refs share many), a few at a time.
func (r *Repo) summaryRefs(refs []Ref) (gvariant.Summary, error) {
	var s gvariant.Summary
	type entry struct {
		size uint64
		md   gvariant.Metadata
		err  error
		ref  Ref // the first that names it, for errors
	}
	commits := map[Checksum]*entry{}
	var todo []Checksum
	for _, ref := range refs {
		if _, ok := commits[ref.Checksum]; !ok {
			commits[ref.Checksum] = &entry{ref: ref}
			todo = append(todo, ref.Checksum)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, listParallel+1)
	for _, c := range todo {
		e := commits[c]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			data, err := r.readMetadata(c, ObjCommit)
			if err != nil {
				e.err = fmt.Errorf("update summary: ref %s: %w", e.ref, err)
				return
			}
			cm, err := decodeCommit(c, data)
			if err != nil {
				e.err = fmt.Errorf("update summary: ref %s: %w", e.ref, err)
				return
			}
			e.size = uint64(len(data))
			e.md = gvariant.Metadata{{Key: "ostree.commit.timestamp", Value: gvariant.Uint64BEVariant(uint64(cm.Timestamp.Unix()))}}
			if v, ok := cm.Version(); ok {
				e.md = append(e.md, gvariant.Entry{Key: "ostree.commit.version", Value: gvariant.StringVariant(v)})
			}
		})
	}
	wg.Wait()
	for _, c := range todo { // the first ref's error, as one at a time would
		if err := commits[c].err; err != nil {
			return s, err
		}
	}
	s.Refs = make([]gvariant.SummaryRef, 0, len(refs))
	for i := range refs {
		e := commits[refs[i].Checksum]
		s.Refs = append(s.Refs, gvariant.SummaryRef{Name: refs[i].Name, CommitSize: e.size, Checksum: refs[i].Checksum[:], Metadata: e.md})
	}
	return s, nil
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
