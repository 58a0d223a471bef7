package pull

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/repofs/repofs/repo"
)

// indexSource fetches a remote's Flatpak summary index (summary.idx) and
// the subsummaries it lists, which resolve refs the plain summary leaves
// out (Flathub lists only x86_64 refs there). The index is checked against
// its signature when the remote's summary must be signed; a subsummary is
// checked against its digest in the index.
type indexSource struct {
	remote string
	f      *fetcher
	v      *verifier
	// cache and subs are nil for a pull from another URL (--url).
	cache *repo.SummaryCache
	subs  *repo.SubsummaryCache

	fetched bool
	idx     *repo.SummaryIndex
	err     error
	loaded  map[string]*repo.Summary // subsummaries by name
}

func newIndexSource(s *summarySource, r *repo.Repo) *indexSource {
	ix := &indexSource{remote: s.remote, f: s.f, v: s.v, loaded: map[string]*repo.Summary{}}
	if s.cache != nil {
		ix.cache, ix.subs = r.SummaryIndexCache(s.remote), r.SubsummaryCache(s.remote)
	}
	return ix
}

// index returns the remote's summary index, fetched once; an error
// matching ErrMissing when the remote has none.
func (s *indexSource) index(ctx context.Context) (*repo.SummaryIndex, error) {
	if !s.fetched {
		s.fetched = true
		s.idx, s.err = s.fetchIndex(ctx)
	}
	return s.idx, s.err
}

func (s *indexSource) fetchIndex(ctx context.Context) (*repo.SummaryIndex, error) {
	data, keep, err := fetchCached(ctx, s.f, s.cache, "summary.idx")
	if err != nil {
		return nil, err
	}
	var sig []byte
	if s.v.summaryNeedsSig() {
		var sigPath string
		if sig, sigPath, err = s.fetchIndexSig(ctx, data); err != nil {
			return nil, err
		}
		if err := s.verifyIndex(data, sig, sigPath); err != nil {
			return nil, err
		}
	}
	ix, err := repo.DecodeSummaryIndex(data)
	if err != nil {
		if s.cache != nil {
			s.cache.Invalidate()
		}
		return nil, fmt.Errorf("pull %s: %s: %w", s.remote, s.f.url("summary.idx"), err)
	}
	keep(sig)
	return ix, nil
}

// verifyIndex checks the index against sig, fetched from sigPath, with
// an error that names both URLs and what to do.
func (s *indexSource) verifyIndex(index, sig []byte, sigPath string) error {
	what := fmt.Sprintf("summary index %s (signature %s)", s.f.url("summary.idx"), s.f.url(sigPath))
	err := s.v.verifySigned(what, s.f.url(sigPath), index, sig)
	if err == nil {
		return nil
	}
	var trust string
	if s.v.gpgSummary {
		trust = fmt.Sprintf("import the publisher's key with 'repofs remote gpg-import %s FILE'", s.remote)
	} else {
		trust = "add the publisher's key with verification-ed25519-key= or verification-ed25519-file="
	}
	return verifyErrorf(errors.Unwrap(err), "%v: either the index or its signature was altered on the way (check the server and any mirror or proxy in between), or the key that signed it is not trusted for remote %s (%s); set gpg-verify-summary=false and sign-verify-summary=false to pull without checking; nothing was pulled", err, s.remote, trust)
}

// fetchIndexSig fetches the index's signature as flatpak does: first
// summaries/DIGEST.idx.sig, named by the index's SHA-256 so that it
// cannot belong to another index (a cache between client and server may
// hold an older summary.idx.sig), then summary.idx.sig, which older
// flatpak writes alone. It returns the signature and the path it came
// from.
func (s *indexSource) fetchIndexSig(ctx context.Context, index []byte) (sig []byte, path string, err error) {
	byDigest := fmt.Sprintf("summaries/%x.idx.sig", sha256.Sum256(index))
	sig, err = s.f.get(ctx, byDigest, maxMetadataFetch)
	if errors.Is(err, ErrMissing) {
		sig, err = s.f.get(ctx, "summary.idx.sig", maxMetadataFetch)
		if errors.Is(err, ErrMissing) {
			// Not wrapping ErrMissing: a caller would take that for a
			// remote without an index and report the ref as absent.
			return nil, "", verifyErrorf(nil, "pull %s: signature verification of the summary is enabled, but the remote's summary index %s has no signature (neither %s nor %s exists): ask the publisher to sign it (flatpak build-update-repo --gpg-sign=KEY), or set gpg-verify-summary=false and sign-verify-summary=false to pull without checking; nothing was pulled", s.remote, s.f.url("summary.idx"), s.f.url(byDigest), s.f.url("summary.idx.sig"))
		}
		return sig, "summary.idx.sig", err
	}
	return sig, byDigest, err
}

// subsummary returns the named subsummary: from the cache when it holds
// that version, else rebuilt from a cached older version and
// summaries/OLD-NEW.delta, else fetched whole as summaries/DIGEST.gz.
func (s *indexSource) subsummary(ctx context.Context, sub repo.Subsummary) (*repo.Summary, error) {
	if sm, ok := s.loaded[sub.Name]; ok {
		return sm, nil
	}
	data, err := s.subsummaryBytes(ctx, sub)
	if err != nil {
		return nil, err
	}
	sm, err := repo.DecodeSummary(data)
	if err != nil {
		return nil, fmt.Errorf("pull %s: subsummary %s (%s): %w", s.remote, sub.Name, sub.Digest, err)
	}
	s.loaded[sub.Name] = sm
	return sm, nil
}

func (s *indexSource) subsummaryBytes(ctx context.Context, sub repo.Subsummary) ([]byte, error) {
	if s.subs != nil {
		if data, ok := s.subs.Read(sub.Name, sub.Digest); ok {
			return data, nil
		}
		if data := s.fromDelta(ctx, sub); data != nil {
			s.subs.Store(sub.Name, sub.Digest, data)
			return data, nil
		}
	}
	path := "summaries/" + sub.Digest.String() + ".gz"
	gz, err := s.f.get(ctx, path, maxMetadataFetch)
	if errors.Is(err, ErrMissing) {
		// Not wrapping ErrMissing, which callers take for a remote
		// without an index.
		return nil, fmt.Errorf("pull %s: the summary index lists subsummary %q, but %s is not on the server (%v): the repository was published incompletely; have its publisher run flatpak build-update-repo again", s.remote, sub.Name, s.f.url(path), err)
	}
	if err != nil {
		return nil, err
	}
	data, err := repo.InflateSubsummary(gz, sub.Digest)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %s is not subsummary %q of digest %s that the summary index lists (%w): the server, or a mirror or proxy in between, serves a damaged or stale file; have its publisher run flatpak build-update-repo again and its caches purged; nothing was pulled", s.remote, s.f.url(path), sub.Name, sub.Digest, err)
	}
	if s.subs != nil {
		s.subs.Store(sub.Name, sub.Digest, data)
	}
	return data, nil
}

// fromDelta rebuilds sub from the first of its previous versions that is
// cached, as flatpak does; nil when none is, or the delta fails (the
// caller then fetches the whole subsummary).
func (s *indexSource) fromDelta(ctx context.Context, sub repo.Subsummary) []byte {
	for _, old := range sub.History {
		prev, ok := s.subs.Read(sub.Name, old)
		if !ok {
			continue
		}
		delta, err := s.f.get(ctx, "summaries/"+old.String()+"-"+sub.Digest.String()+".delta", maxMetadataFetch)
		if err != nil {
			return nil
		}
		data, err := repo.ApplySummaryDiff(prev, delta, sub.Digest)
		if err != nil {
			return nil
		}
		return data
	}
	return nil
}

// candidates orders the subsummaries to look for ref in: for a Flatpak
// ref (app/ID/ARCH/BRANCH, runtime/ID/ARCH/BRANCH) the one named ARCH
// first, then those of other subsets of that arch ("SUBSET-ARCH"), then
// the rest (the x86_64 one also holds the i386 refs); any other ref is
// looked for in every subsummary, in index order.
func candidates(ix *repo.SummaryIndex, ref string) []repo.Subsummary {
	arch := ""
	if p := strings.Split(ref, "/"); len(p) == 4 && (p[0] == "app" || p[0] == "runtime") {
		arch = p[2]
	}
	rank := func(s repo.Subsummary) int {
		switch {
		case arch == "":
			return 0
		case s.Name == arch:
			return 0
		case strings.HasSuffix(s.Name, "-"+arch):
			return 1
		}
		return 2
	}
	out := slices.Clone(ix.Subsummaries)
	slices.SortStableFunc(out, func(a, b repo.Subsummary) int { return rank(a) - rank(b) })
	return out
}

// lookup finds ref in the subsummaries; ok is false when none has it.
func (s *indexSource) lookup(ctx context.Context, ref string) (sr repo.SummaryRef, ok bool, err error) {
	ix, err := s.index(ctx)
	if err != nil {
		return sr, false, err
	}
	for _, sub := range candidates(ix, ref) {
		sm, err := s.subsummary(ctx, sub)
		if err != nil {
			return sr, false, err
		}
		if i, found := slices.BinarySearchFunc(sm.Refs, ref, func(r repo.SummaryRef, name string) int { return strings.Compare(r.Name, name) }); found {
			return sm.Refs[i], true, nil
		}
	}
	return sr, false, nil
}

// lookupRef resolves a ref from the plain summary (nil when the remote has
// none), else from the summary index. ok is false when neither has it;
// indexed reports whether the remote has either, so that a caller knows
// whether to fall back to refs/heads/.
func (p *puller) lookupRef(ctx context.Context, summary map[string]target, name string) (t target, ok, indexed bool, err error) {
	if t, ok := summary[name]; ok {
		return t, true, true, nil
	}
	if p.index == nil {
		p.index = newIndexSource(p.summary, p.r)
	}
	sr, ok, err := p.index.lookup(ctx, name)
	switch {
	case errors.Is(err, ErrMissing):
		return t, false, summary != nil, nil
	case err != nil:
		return t, false, true, err
	case !ok:
		return t, false, true, nil
	}
	if ix, _ := p.index.index(ctx); ix.IndexedDeltas() {
		p.indexedDeltas = true
	}
	return summaryTarget(sr), true, true, nil
}

// summaryTarget is what a summary says of a ref: its commit, and the
// commit's size, which bounds its download.
func summaryTarget(sr repo.SummaryRef) target {
	size := int64(maxMetadataFetch)
	if sr.CommitSize > 0 && sr.CommitSize < uint64(size) {
		size = int64(sr.CommitSize)
	}
	return target{name: sr.Name, ref: sr.Name, commit: sr.Commit, size: size}
}

// RemoteRefs returns every ref a remote publishes, sorted: those of its
// summary and those of every subsummary of its Flatpak summary index.
func RemoteRefs(ctx context.Context, r *repo.Repo, remote string) ([]string, error) {
	rm, err := ReadRemote(r, remote)
	if err != nil {
		return nil, err
	}
	f, _, err := newRemoteFetchers(ctx, remote, rm.URL, "", 5, LowSpeed{Bytes: defaultLowSpeedBytes, Time: stallTimeout})
	if err != nil {
		return nil, err
	}
	defer f.client.CloseIdleConnections()
	v, err := newVerifier(r, rm)
	if err != nil {
		return nil, err
	}
	src := &summarySource{remote: remote, f: f, v: v, cache: r.SummaryCache(remote)}
	seen := map[string]bool{}
	data, err := src.fetch(ctx)
	haveSummary := err == nil
	switch {
	case err == nil:
		s, err := repo.DecodeSummary(data)
		if err != nil {
			return nil, fmt.Errorf("remote %s: summary: %w", remote, err)
		}
		for _, sr := range s.Refs {
			seen[sr.Name] = true
		}
	case !errors.Is(err, ErrMissing):
		return nil, err
	}
	ixs := newIndexSource(src, r)
	ix, err := ixs.index(ctx)
	switch {
	case errors.Is(err, ErrMissing) && haveSummary:
	case err != nil:
		return nil, err
	default:
		for _, sub := range ix.Subsummaries {
			sm, err := ixs.subsummary(ctx, sub)
			if err != nil {
				return nil, err
			}
			for _, sr := range sm.Refs {
				seen[sr.Name] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}
