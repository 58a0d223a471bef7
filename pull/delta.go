package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/delta"
)

// ErrNoDelta means static deltas were required (RequireStaticDeltas) but
// none could be used.
var ErrNoDelta = errors.New("no usable static delta")

// DeltaInfo describes a delta a pull used, or a dry run would use.
type DeltaInfo struct {
	Ref  string // as asked for
	Name string // "FROM-TO" or "TO"
	// Parts and Fallbacks the delta has; PartsNeeded and FallbacksNeeded
	// of them hold objects the repository lacks.
	Parts, PartsNeeded, Fallbacks, FallbacksNeeded int
	// Size is what fetching the needed parts and fallbacks transfers,
	// USize what they unpack to.
	Size, USize uint64
}

// deltaPlan is the delta chosen for a commit, its superblock fetched and
// checked.
type deltaPlan struct {
	sb   *delta.Superblock
	info DeltaInfo
	// staged: the content objects its parts staged, verified.
	staged objectSet
}

// deltasEnabled applies ostree's rules: not with --disable-static-deltas
// nor for commits alone; not from a file:// remote unless required.
// Unlike ostree, archive repositories use deltas too.
func (p *puller) deltasEnabled() bool {
	if p.o.RequireStaticDeltas {
		return true
	}
	return !p.o.DisableStaticDeltas && !p.o.CommitMetadataOnly && !p.f.local()
}

func requiredErr(name string, c repo.Checksum, why string) error {
	return fmt.Errorf("Static deltas required, but none found for %s to %s (%s): %w", name, c, why, ErrNoDelta)
}

// planDelta chooses a delta to commit c (pulled as ref, "" for a
// checksum), as ostree's pull does, and fetches and checks its superblock.
// nil means objects: no delta fits, or the one that fits is unusable
// (then DeltaFallback hears why). With RequireStaticDeltas that is an
// error instead.
func (p *puller) planDelta(ctx context.Context, c repo.Checksum, ref, name string) (*deltaPlan, error) {
	if !p.deltasEnabled() {
		return nil, nil
	}
	if _, complete := p.completeCommitTime(c); complete {
		return nil, nil // nothing to do, as ostree's "unchanged"
	}
	var fromRev *repo.Checksum
	if ref != "" {
		if c, ok := p.localRef(ref); ok {
			fromRev = &c
		}
	}
	deltas, known, err := p.knownDeltas(ctx, c)
	if err != nil {
		return nil, err
	}
	var dn delta.Name
	var ok bool
	if known {
		dn, ok = p.bestDelta(deltas, c, fromRev)
	} else {
		dn, ok = p.speculativeDelta(c, fromRev)
	}
	if !ok {
		if p.o.RequireStaticDeltas {
			return nil, requiredErr(name, c, "the remote lists no delta from a complete local commit")
		}
		return nil, nil
	}
	var expected *repo.Checksum
	if sum, ok := deltas[dn.String()]; ok {
		expected = &sum
	}
	d, err := p.fetchSuperblock(ctx, dn, expected, name)
	if err != nil {
		if ctx.Err() != nil || p.o.RequireStaticDeltas {
			return nil, err
		}
		p.fallback(err)
		return nil, nil
	}
	return d, nil
}

// fallback reports a delta not used.
func (p *puller) fallback(err error) {
	if p.o.DeltaFallback != nil {
		p.o.DeltaFallback(err)
	}
}

// localRef reads the local value of a pulled ref: refs/remotes/REMOTE/REF,
// or refs/heads/REF when mirroring.
func (p *puller) localRef(ref string) (repo.Checksum, bool) {
	remote := p.o.Remote
	if p.o.Mirror {
		remote = ""
	}
	c, err := p.r.ReadRef(remote, ref)
	return c, err == nil
}

// knownDeltas lists the deltas to c the remote publishes: from its delta
// index when it has indexes, else from its summary; known is false when
// neither says (then ostree tries a delta speculatively).
func (p *puller) knownDeltas(ctx context.Context, c repo.Checksum) (map[string]repo.Checksum, bool, error) {
	if p.indexedDeltas {
		data, err := p.fc.get(ctx, delta.IndexPath(c), maxMetadataFetch)
		if errors.Is(err, ErrMissing) {
			return nil, true, nil
		}
		if err != nil {
			return nil, true, err
		}
		p.metaFetched.Add(1)
		m, err := delta.DecodeIndex(data)
		if err != nil {
			p.fallback(fmt.Errorf("pull %s: %s: %w", p.o.Remote, p.fc.url(delta.IndexPath(c)), err))
			return nil, true, nil
		}
		return m, true, nil
	}
	if len(p.summaryDeltas) > 0 {
		return p.summaryDeltas, true, nil
	}
	return nil, false, nil
}

// bestDelta picks, among the deltas to c, the one from the newest
// complete local commit; else the scratch delta, but only when the ref is
// absent locally (an object pull from a close commit is cheaper).
func (p *puller) bestDelta(deltas map[string]repo.Checksum, c repo.Checksum, fromRev *repo.Checksum) (delta.Name, bool) {
	var best delta.Name
	found, scratch := false, false
	var bestTime int64
	for s := range deltas {
		n, ok := delta.ParseName(s)
		if !ok || n.To != c {
			continue
		}
		if n.Scratch {
			scratch = true
			continue
		}
		ts, ok := p.completeCommitTime(n.From)
		if ok && (!found || ts > bestTime) {
			best, bestTime, found = n, ts, true
		}
	}
	if found {
		return best, true
	}
	if scratch && fromRev == nil {
		return delta.Name{To: c, Scratch: true}, true
	}
	return delta.Name{}, false
}

// speculativeDelta is ostree's guess when the remote lists no deltas: from
// the ref's local commit if complete (none if it is c), else scratch.
func (p *puller) speculativeDelta(c repo.Checksum, fromRev *repo.Checksum) (delta.Name, bool) {
	if fromRev != nil {
		if _, ok := p.completeCommitTime(*fromRev); ok {
			return delta.Name{From: *fromRev, To: c}, *fromRev != c
		}
	}
	return delta.Name{To: c, Scratch: true}, true
}

// completeCommitTime returns the timestamp of commit c when the repository
// has it complete.
func (p *puller) completeCommitTime(c repo.Checksum) (int64, bool) {
	if have, err := p.r.HasObject(c, repo.ObjCommit); err != nil || !have {
		return 0, false
	}
	if partial, err := p.r.IsPartial(c); err != nil || partial {
		return 0, false
	}
	data, err := p.r.ReadMetadata(c, repo.ObjCommit)
	if err != nil {
		return 0, false
	}
	cm, err := repo.DecodeCommit(c, data)
	if err != nil {
		return 0, false
	}
	return cm.Timestamp.Unix(), true
}

// fetchSuperblock fetches delta dn's superblock and checks it: against
// expected (the SHA-256 the summary or index gives), its signatures when
// it is signed and the remote has ed25519 keys, and that it leads to the
// commit it is named for.
func (p *puller) fetchSuperblock(ctx context.Context, dn delta.Name, expected *repo.Checksum, name string) (*deltaPlan, error) {
	path := dn.SuperblockPath()
	u := p.fc.url(path)
	if expected == nil && p.v.summaryNeedsSig() {
		return nil, fmt.Errorf("pull %s: delta %s: the signed summary does not list it, so its superblock cannot be verified", p.o.Remote, dn)
	}
	data, err := p.fc.get(ctx, path, maxMetadataFetch)
	if errors.Is(err, ErrMissing) && p.o.RequireStaticDeltas {
		return nil, requiredErr(name, dn.To, u+" is missing")
	}
	if err != nil {
		return nil, err
	}
	p.metaFetched.Add(1)
	if expected != nil {
		if got := repo.Checksum(sha256Sum(data)); got != *expected {
			return nil, fmt.Errorf("pull %s: %s: %w: checksum expected='%s' actual='%s'", p.o.Remote, u, delta.ErrInvalid, *expected, got)
		}
	}
	if delta.IsSigned(data) {
		inner, sigs, err := delta.DecodeSigned(data)
		if err != nil {
			return nil, fmt.Errorf("pull %s: %s: %w", p.o.Remote, u, err)
		}
		if err := p.v.verifyDelta(dn, inner, sigs); err != nil {
			return nil, err
		}
		data = inner
	}
	sb, err := delta.DecodeSuperblock(data)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %s: %w", p.o.Remote, u, err)
	}
	if sb.Name != dn {
		return nil, fmt.Errorf("pull %s: %s: %w: it describes delta %s", p.o.Remote, u, delta.ErrInvalid, sb.Name)
	}
	d := &deltaPlan{sb: sb, info: DeltaInfo{Ref: name, Name: dn.String(), Parts: len(sb.Parts), Fallbacks: len(sb.Fallbacks)}}
	if err := p.measure(d); err != nil {
		return nil, err
	}
	p.setLocalMeta(dn.To, sb.Commit)
	return d, nil
}

// measure counts what of the delta the repository lacks, as ostree does:
// parts whose objects are all present and stored fallbacks are free.
func (p *puller) measure(d *deltaPlan) error {
	for i := range d.sb.Parts {
		h := &d.sb.Parts[i]
		have, err := p.haveAll(h.Objects)
		if err != nil {
			return err
		}
		if !have {
			d.info.PartsNeeded++
			d.info.Size += h.Size
			d.info.USize += h.USize
		}
	}
	for _, fb := range d.sb.Fallbacks {
		have, err := p.r.HasObject(fb.Checksum, fb.Type)
		if err != nil {
			return err
		}
		if !have {
			d.info.FallbacksNeeded++
			d.info.Size += fb.Size
			d.info.USize += fb.USize
		}
	}
	return nil
}

func (p *puller) haveAll(objs []delta.Object) (bool, error) {
	for _, o := range objs {
		var have bool
		var err error
		if p.tx != nil {
			have, err = p.tx.HasObject(o.Checksum, o.Type)
		} else {
			have, err = p.r.HasObject(o.Checksum, o.Type)
		}
		if err != nil || !have {
			return false, err
		}
	}
	return true, nil
}

// setLocalMeta keeps a metadata object a delta carried, for the walk that
// follows (staged objects cannot be read back from the transaction).
func (p *puller) setLocalMeta(c repo.Checksum, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.localMeta == nil {
		p.localMeta = map[repo.Checksum][]byte{}
	}
	p.localMeta[c] = data
}

// takeLocalMeta returns (and forgets) a metadata object a delta carried.
func (p *puller) takeLocalMeta(c repo.Checksum) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	data, ok := p.localMeta[c]
	delete(p.localMeta, c)
	return data, ok
}

// deltaWorkers is how many parts download and run at once; each writes
// deltaWriters objects at once while it produces the next ones.
const (
	deltaWorkers = 2
	deltaWriters = 4
)

// applyDelta fetches the delta's parts the repository needs and runs
// them into the transaction; every object is verified before it is
// staged. A part that fails is left to the object walk that follows
// (DeltaFallback hears why), unless deltas are required.
func (p *puller) applyDelta(ctx context.Context, d *deltaPlan) error {
	p.deltaTotal.Add(int64(d.info.Size))
	p.deltaPartsTotal.Add(int64(d.info.PartsNeeded))
	p.mu.Lock()
	p.deltas = append(p.deltas, d.info)
	p.mu.Unlock()
	sink := &delta.TxSink{Repo: p.r, Tx: p.tx, TmpDir: p.dir.Path,
		Metadata: func(o delta.Object, data []byte) { p.setLocalMeta(o.Checksum, bytes.Clone(data)) },
		Written: func(o delta.Object, n uint64) {
			d.staged.add(o.Checksum)
			p.written.Add(int64(n))
			p.deltaObjects.Add(1)
		},
		Parallel: deltaWriters,
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, deltaWorkers)
	var mu sync.Mutex
	var firstErr error
	for i := range d.sb.Parts {
		h := &d.sb.Parts[i]
		if have, err := p.haveAll(h.Objects); err != nil {
			return err
		} else if have {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := p.applyPart(ctx, d, i, sink)
			if err == nil {
				p.deltaParts.Add(1)
				return
			}
			if ctx.Err() == nil && !p.o.RequireStaticDeltas {
				p.fallback(err)
				return
			}
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

// applyPart fetches part i (or takes it inline), verifies it against its
// header, and runs it.
func (p *puller) applyPart(ctx context.Context, d *deltaPlan, i int, sink delta.Sink) error {
	h := &d.sb.Parts[i]
	path := d.sb.Name.PartPath(i)
	u := p.fc.url(path)
	wrap := func(err error) error {
		return fmt.Errorf("pull %s: delta %s part %d (%s): %w", p.o.Remote, d.sb.Name, i, u, err)
	}
	var part *delta.Part
	switch inline := d.sb.InlinePart(i); {
	case inline != nil:
		if err := delta.VerifyPart(bytes.NewReader(inline), h); err != nil {
			return wrap(err)
		}
		var err error
		if part, err = delta.DecodePart(inline, delta.Limit(h)); err != nil {
			return wrap(err)
		}
	case h.Size <= smallBody:
		data, err := p.fc.get(ctx, path, int64(h.Size))
		if err != nil {
			return err
		}
		p.deltaDone.Add(int64(len(data)))
		if err := delta.VerifyPart(bytes.NewReader(data), h); err != nil {
			return wrap(err)
		}
		if part, err = delta.DecodePart(data, delta.Limit(h)); err != nil {
			return wrap(err)
		}
	default:
		var err error
		if part, err = p.fetchPartFile(ctx, path, h); err != nil {
			var pe *partError
			if errors.As(err, &pe) {
				return wrap(pe.err)
			}
			return err
		}
	}
	defer part.Close()
	if _, err := part.Execute(h.Objects, sink); err != nil {
		return wrap(err)
	}
	return nil
}

// wholePart is the largest part file read into memory to be decoded.
const wholePart = 64 << 20

// partError is a part that arrived but is not what its header says.
type partError struct{ err error }

func (e *partError) Error() string { return e.err.Error() }

// fetchPartFile downloads a large part into the fetcher directory,
// resuming what an earlier pull left there, then verifies and decodes it.
// A part that fails verification is removed, so the next pull starts over.
func (p *puller) fetchPartFile(ctx context.Context, path string, h *delta.PartHeader) (*delta.Part, error) {
	dst := filepath.Join(p.dir.Path, "deltapart-"+h.Checksum.String())
	if err := p.fc.fetchPart(ctx, path, dst, int64(h.Size), &p.deltaDone); err != nil {
		return nil, err
	}
	f, err := os.Open(dst)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", p.o.Remote, err)
	}
	defer f.Close()
	defer os.Remove(dst) // verified and read, or bad: not to be resumed
	if st, err := f.Stat(); err == nil && st.Size() == int64(h.Size) && h.Size <= wholePart {
		// In memory, its xz blocks (if it has several) decode in parallel.
		data := make([]byte, h.Size)
		if _, err := io.ReadFull(f, data); err != nil {
			return nil, &partError{fmt.Errorf("%w: %v", delta.ErrInvalid, err)}
		}
		if err := delta.VerifyPart(bytes.NewReader(data), h); err != nil {
			return nil, &partError{err}
		}
		part, err := delta.DecodePartSpill(data, delta.Limit(h), p.dir.Path)
		if err != nil {
			return nil, &partError{err}
		}
		return part, nil
	}
	if err := delta.VerifyPart(f, h); err != nil {
		return nil, &partError{err}
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("pull %s: %w", p.o.Remote, err)
	}
	part, err := delta.ReadPart(f, delta.Limit(h), p.dir.Path)
	if err != nil {
		return nil, &partError{err}
	}
	return part, nil
}

// pullTarget pulls one requested commit, through a static delta when one
// fits.
func (p *puller) pullTarget(ctx context.Context, t target) error {
	d, err := p.planDelta(ctx, t.commit, t.ref, t.name)
	if err != nil {
		return err
	}
	return p.pullCommit(ctx, t.commit, p.o.Depth, t.size, t.ref, false, d)
}

// dryRun plans the deltas of the targets and reports them without
// fetching any part or writing anything.
func (p *puller) dryRun(ctx context.Context, targets []target) (*Result, error) {
	res := &Result{Refs: map[string]repo.Checksum{}}
	for _, t := range targets {
		res.Refs[t.name] = t.commit
		d, err := p.planDelta(ctx, t.commit, t.ref, t.name)
		if err != nil {
			return nil, err
		}
		if d != nil {
			res.Deltas = append(res.Deltas, d.info)
			p.deltaTotal.Add(int64(d.info.Size))
			p.deltaPartsTotal.Add(int64(d.info.PartsNeeded))
		}
	}
	return res, nil
}

// deltaBase is the root of the delta's from-commit, which planDelta chose
// for being complete in the repository, for the walk that follows the
// delta to skip what it shares with it; nil for a scratch delta, or a
// from-commit no longer readable.
func (p *puller) deltaBase(d *deltaPlan) *dirJob {
	if d.sb.Name.Scratch {
		return nil
	}
	from := d.sb.Name.From
	if partial, err := p.r.IsPartial(from); err != nil || partial {
		return nil
	}
	data, err := p.r.ReadMetadata(from, repo.ObjCommit)
	if err != nil {
		return nil
	}
	c, err := repo.DecodeCommit(from, data)
	if err != nil {
		return nil
	}
	return &dirJob{tree: c.RootTree, meta: c.RootMeta}
}
