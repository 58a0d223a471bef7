package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/repofs/repofs/repo"
)

// summarySource fetches a remote's summary, checked against summary.sig
// when the remote's settings ask, through the remote's summary cache.
type summarySource struct {
	remote string
	f      *fetcher
	v      *verifier
	// cache is nil for a pull from another URL (--url), which neither
	// reads nor writes the remote's cache.
	cache *repo.SummaryCache
}

// FetchSummary fetches and decodes a remote's summary, verified as the
// remote's settings ask.
func FetchSummary(ctx context.Context, r *repo.Repo, remote string) (*repo.Summary, error) {
	rm, err := ReadRemote(r, remote)
	if err != nil {
		return nil, err
	}
	f, _, err := newRemoteFetchers(ctx, remote, rm.URL, "", 5, LowSpeed{Bytes: defaultLowSpeedBytes, Time: stallTimeout})
	if err != nil {
		return nil, err
	}
	v, err := newVerifier(r, rm)
	if err != nil {
		return nil, err
	}
	src := &summarySource{remote: remote, f: f, v: v, cache: r.SummaryCache(remote)}
	data, err := src.fetch(ctx)
	if err != nil {
		return nil, err
	}
	s, err := repo.DecodeSummary(data)
	if err != nil {
		return nil, fmt.Errorf("remote %s: summary: %w", remote, err)
	}
	return s, nil
}

// fetch returns the summary, having checked it against summary.sig when
// the remote asks for it (gpg-verify-summary, sign-verify-summary).
func (s *summarySource) fetch(ctx context.Context) ([]byte, error) {
	if !s.v.summaryNeedsSig() {
		data, keep, err := s.fetchCached(ctx)
		if err == nil {
			keep(nil)
		}
		return data, err
	}
	sig, err := s.f.get(ctx, "summary.sig", maxMetadataFetch)
	if errors.Is(err, ErrMissing) {
		sig = nil
	} else if err != nil {
		return nil, err
	}
	data, keep, err := s.fetchCached(ctx)
	if errors.Is(err, ErrMissing) {
		// Not ErrMissing: that would send resolve to the unsigned
		// refs/heads/ files, which anyone able to delete the summary
		// could then point at any commit.
		return nil, verifyErrorf(nil, "pull %s: signature verification of the summary is enabled, but the remote has no summary (%s); set gpg-verify-summary=false and sign-verify-summary=false to pull without one", s.remote, s.f.url("summary"))
	}
	if err != nil {
		return nil, err
	}
	verr := s.v.verifySummary(data, sig)
	if verr == nil {
		keep(sig)
		return data, nil
	}
	// The cached copy may predate the signature: try a fresh one once.
	fresh, err := s.f.get(ctx, "summary", maxMetadataFetch)
	if err != nil || bytes.Equal(fresh, data) {
		return nil, verr
	}
	if err := s.v.verifySummary(fresh, sig); err != nil {
		return nil, err
	}
	// The cache holds an older summary; the next fetch is a full one.
	if s.cache != nil {
		s.cache.Invalidate()
	}
	return fresh, nil
}

// fetchCached returns the remote's summary, from the cache when the
// server says it has not changed. keep, called once the caller has checked
// the summary (with sig, its summary.sig, nil for none), stores it in the
// cache: a summary that failed verification is never cached.
func (s *summarySource) fetchCached(ctx context.Context) (data []byte, keep func(sig []byte), err error) {
	return fetchCached(ctx, s.f, s.cache, "summary")
}

// fetchCached fetches path through cache (nil: none) with a conditional
// request, as summarySource.fetchCached describes.
func fetchCached(ctx context.Context, f *fetcher, cache *repo.SummaryCache, path string) (data []byte, keep func(sig []byte), err error) {
	if cache == nil {
		data, _, err := f.getIf(ctx, path, maxMetadataFetch, validator{})
		return data, func([]byte) {}, err
	}
	var have validator
	cached, etag, lastModified, cerr := cache.Read()
	if cerr == nil {
		have = validator{etag: etag, lastModified: lastModified}
	}
	data, got, err := f.getIf(ctx, path, maxMetadataFetch, have)
	if err != nil {
		return nil, nil, err
	}
	if data == nil && cerr == nil {
		return cached, cache.StoreSig, nil // 304
	}
	return data, func(sig []byte) { cache.Store(data, got.etag, got.lastModified, sig) }, nil
}

// summaryTargets reads the refs a summary publishes, each bounded by the
// commit size the summary gives.
func (p *puller) summaryTargets(data []byte) (map[string]target, error) {
	s, err := repo.DecodeSummary(data)
	if err != nil {
		return nil, fmt.Errorf("pull %s: summary: %w", p.o.Remote, err)
	}
	p.summaryDeltas, p.summaryFetched = s.StaticDeltas, true
	p.indexedDeltas = p.indexedDeltas || s.IndexedDeltas
	out := make(map[string]target, len(s.Refs))
	for _, sr := range s.Refs {
		out[sr.Name] = summaryTarget(sr)
	}
	return out, nil
}
