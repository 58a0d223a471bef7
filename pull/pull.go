package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/repofs/repofs/internal/bufpool"
	"github.com/repofs/repofs/repo"
	"golang.org/x/sys/unix"
)

// Options describe one pull.
type Options struct {
	// Remote names a configured remote; URL, when set, overrides its url.
	Remote, URL string
	// Refs are refs or commit checksums to pull; empty means the remote's
	// branches, else every ref of its summary.
	Refs []string
	// Depth is how many parents to pull as well (-1: all).
	Depth int
	// Mirror writes refs/heads/REF instead of refs/remotes/REMOTE/REF.
	Mirror bool
	// CommitMetadataOnly fetches commits but not their trees; the
	// commits stay marked partial.
	CommitMetadataOnly bool
	// Retries per request after the first attempt (0: default 5; negative:
	// none); Parallel requests in flight (default 16).
	Retries, Parallel int
	// Progress, when set, is called from time to time and at the end.
	Progress func(Progress)

	// DisableStaticDeltas pulls objects only; RequireStaticDeltas fails
	// a pull that finds no usable delta (and, unlike the default, uses
	// deltas from file:// remotes too), as ostree's options do.
	DisableStaticDeltas, RequireStaticDeltas bool
	// DryRun resolves the refs and fetches the superblocks of the deltas
	// that would be used (Result.Deltas), and stops there.
	DryRun bool
	// DeltaFallback, when set, hears why a delta (or a part of one) was
	// not used and objects are fetched instead.
	DeltaFallback func(error)
	// Notice, when set, hears of problems the pull recovered from: a
	// partial download that failed verification, dropped and fetched
	// again.
	Notice func(error)
	// LocalCache are repositories on this machine to take objects from
	// before fetching them (ostree's --localcache-repo); each is verified.
	LocalCache []string
	// LowSpeed overrides the remote's low-speed-limit-bytes and
	// low-speed-time-secs where its fields are not zero.
	LowSpeed LowSpeed
}

// Progress counts a pull's work.
type Progress struct {
	MetadataFetched, ContentFetched int64
	ContentTotal                    int64 // content objects known to be needed
	BytesTransferred                int64
	ContentBytesWritten             int64
	// DeltaParts of DeltaPartsTotal static delta parts are done, and
	// DeltaBytes of the DeltaBytesTotal bytes their superblocks say the
	// needed parts and fallbacks weigh are on disk; DeltaObjects content
	// objects came out of them.
	DeltaParts, DeltaPartsTotal int64
	DeltaBytes, DeltaBytesTotal int64
	DeltaObjects                int64
	// FromLocalCache objects came from Options.LocalCache repositories.
	FromLocalCache int64
	Elapsed        time.Duration
	Done           bool
}

// Result is what a pull did.
type Result struct {
	Progress
	// Refs maps each pulled ref (or checksum) to its commit.
	Refs map[string]repo.Checksum
	// Deltas lists the static deltas used (or, in a dry run, that would
	// be).
	Deltas []DeltaInfo
}

// maxMetadataFetch bounds a fetched metadata object and the summary.
const maxMetadataFetch = repo.MaxMetadataSize

type puller struct {
	r       *repo.Repo
	o       Options
	f       *fetcher // the remote's url: config, summary, refs, detached metadata
	fc      *fetcher // its contenturl (else url): objects and deltas
	v       *verifier
	summary *summarySource
	index   *indexSource // Flatpak's summary.idx, fetched when first needed
	caches  []*cacheRepo // Options.LocalCache
	tx      *repo.Transaction
	dir     *repo.FetcherDir
	start   time.Time

	metaFetched, contentFetched, contentTotal, written atomic.Int64

	// Static deltas: those the summary lists; whether the remote has
	// delta-indexes/ (summary or config); progress.
	summaryDeltas                                      map[string]repo.Checksum
	indexedDeltas, summaryFetched                      bool
	deltaTotal, deltaDone, deltaParts, deltaPartsTotal atomic.Int64
	deltaObjects                                       atomic.Int64
	fromCache                                          atomic.Int64
	wholeHeld                                          atomic.Int64 // see stageFile
	mapped                                             budget       // see stageFile

	mu        sync.Mutex
	seen      map[repo.Checksum]bool   // metadata objects walked
	localMeta map[repo.Checksum][]byte // metadata deltas carried
	deltas    []DeltaInfo              // deltas used
}

// Pull fetches refs from a remote into r, in one transaction: every object
// is verified before it is staged, and refs move only when all the objects
// they need are published. Downloads in progress live in a locked
// repo.FetcherDir; a pull that fails leaves them there, and the
// next pull resumes them — unless core.min-free-space-* stopped it: then
// they are deleted, with the transaction's staging directory.
func Pull(ctx context.Context, r *repo.Repo, o Options) (*Result, error) {
	switch {
	case o.Retries == 0:
		o.Retries = 5
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.DisableStaticDeltas && o.RequireStaticDeltas {
		return nil, fmt.Errorf("pull %s: static deltas cannot be both disabled and required", o.Remote)
	}
	rm, err := ReadRemote(r, o.Remote)
	if errors.Is(err, ErrNoRemote) {
		return nil, err // names the remote already, in ostree's words
	}
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", o.Remote, err)
	}
	// --url replaces both url and contenturl, as in ostree.
	metaURL, contentURL := rm.URL, rm.ContentURL
	if o.URL != "" {
		metaURL, contentURL = o.URL, ""
	}
	if metaURL == "" {
		return nil, fmt.Errorf("pull %s: No \"url\" option in remote \"%s\"", o.Remote, o.Remote)
	}
	v, err := newVerifier(r, rm)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", o.Remote, err)
	}
	slow, err := lowSpeedFrom(rm.Keys, o.LowSpeed)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", o.Remote, err)
	}
	caches, err := openLocalCaches(o.Remote, o.LocalCache)
	if err != nil {
		return nil, err
	}
	f, fc, err := newRemoteFetchers(ctx, o.Remote, metaURL, contentURL, o.Retries, slow)
	if err != nil {
		return nil, err
	}
	if !rm.Pipelining {
		f.noPipeline.Store(true) // fc's too: the fetchers share it
	}
	// The fetchers' connections end with the pull: kept idle, each holds
	// two goroutines and a socket for 90 s, and a mount pulling every
	// second would pile them up.
	defer f.client.CloseIdleConnections()
	p := &puller{r: r, o: o, f: f, fc: fc, v: v, caches: caches, start: time.Now(), seen: map[repo.Checksum]bool{}}
	p.summary = &summarySource{remote: o.Remote, f: f, v: v}
	if o.URL == "" {
		p.summary.cache = r.SummaryCache(o.Remote)
	}
	res, err := p.run(ctx, rm)
	// A full disk is not retried; say what tmp/ holds and how to free it.
	err = r.ExplainNoSpace(err, 0)
	if res != nil {
		res.Progress = p.progress(true)
		if o.Progress != nil {
			o.Progress(res.Progress)
		}
	}
	return res, err
}

func (p *puller) progress(done bool) Progress {
	return Progress{
		MetadataFetched: p.metaFetched.Load(), ContentFetched: p.contentFetched.Load(),
		ContentTotal: p.contentTotal.Load(), BytesTransferred: p.f.bytes.Load(),
		ContentBytesWritten: p.written.Load(), Elapsed: time.Since(p.start), Done: done,
		DeltaParts: p.deltaParts.Load(), DeltaPartsTotal: p.deltaPartsTotal.Load(),
		DeltaBytes: p.deltaDone.Load(), DeltaBytesTotal: p.deltaTotal.Load(),
		DeltaObjects: p.deltaObjects.Load(), FromLocalCache: p.fromCache.Load(),
	}
}

func (p *puller) run(ctx context.Context, rm *Remote) (*Result, error) {
	if err := p.checkConfig(ctx); err != nil {
		return nil, err
	}
	targets, err := p.resolve(ctx, rm)
	if err != nil {
		return nil, err
	}
	if p.o.RequireStaticDeltas && !p.indexedDeltas && len(p.summaryDeltas) == 0 && p.summaryFetched {
		return nil, fmt.Errorf("pull %s: Fetch configured to require static deltas, but no summary deltas or delta index found: %w", p.o.Remote, ErrNoDelta)
	}
	if p.o.DryRun {
		return p.dryRun(ctx, targets)
	}
	if p.dir, err = p.r.AllocateFetcherDir(ctx); err != nil {
		return nil, fmt.Errorf("pull %s: %w", p.o.Remote, err)
	}
	ok := false
	defer func() {
		// Partial downloads stay for the next pull, unless the
		// transaction met core.min-free-space-*: a disk that full is not
		// to hold caches (nor does ostree keep them).
		if ok || (p.tx != nil && p.tx.MinFreeSpaceHit()) {
			p.dir.Remove()
		} else {
			p.dir.Release()
		}
	}()
	if p.tx, err = p.r.Begin(ctx); err != nil {
		return nil, fmt.Errorf("pull %s: %w", p.o.Remote, err)
	}
	defer p.tx.Abort()

	stopProgress := p.reportProgress()
	defer stopProgress()

	res := &Result{Refs: map[string]repo.Checksum{}}
	defer func() { res.Deltas = p.deltas }()
	for _, t := range targets {
		if err := p.pullTarget(ctx, t); err != nil {
			return nil, err
		}
		res.Refs[t.name] = t.commit
		if t.ref != "" {
			remote := p.o.Remote
			if p.o.Mirror {
				remote = ""
			}
			if err := p.tx.SetRef(remote, t.ref, t.commit); err != nil {
				return nil, fmt.Errorf("pull %s: %w", p.o.Remote, err)
			}
		}
	}
	if err := p.tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("pull %s: %w", p.o.Remote, err)
	}
	ok = true
	return res, nil
}

func (p *puller) reportProgress() func() {
	if p.o.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.o.Progress(p.progress(false))
			}
		}
	}()
	return func() { close(stop); <-done }
}

// checkConfig refuses remotes that are not archive repositories: only
// those can be served to pull over plain HTTP.
func (p *puller) checkConfig(ctx context.Context) error {
	data, err := p.f.get(ctx, "config", 1<<20)
	if err != nil {
		return err
	}
	c, err := repo.ParseConfig(data)
	if err != nil {
		return fmt.Errorf("pull %s: remote config: %w", p.o.Remote, err)
	}
	if v, ok := c.Get("core", "indexed-deltas"); ok {
		p.indexedDeltas, _ = repo.ParseBool(v)
	}
	mode, _ := c.Get("core", "mode")
	if mode != "archive-z2" && mode != "archive" {
		return fmt.Errorf("pull %s: the remote repository has mode %q; only archive repositories can be pulled over HTTP", p.o.Remote, mode)
	}
	return nil
}

type target struct {
	name   string // as asked for
	ref    string // "" for a checksum
	commit repo.Checksum
	size   int64 // most bytes the commit object may have (0: maxMetadataFetch)
}

// resolve turns the requested refs into commits, from the summary when
// the remote has one, else from refs/heads/.
func (p *puller) resolve(ctx context.Context, rm *Remote) ([]target, error) {
	var summary map[string]target
	data, err := p.summary.fetch(ctx)
	switch {
	case err == nil:
		if summary, err = p.summaryTargets(data); err != nil {
			return nil, err
		}
	case errors.Is(err, ErrMissing) && !p.v.summaryNeedsSig():
	default:
		return nil, err
	}
	names := p.o.Refs
	if len(names) == 0 {
		names = rm.Branches
	}
	if len(names) == 0 {
		if summary == nil {
			return nil, fmt.Errorf("pull %s: the remote has no summary, so name the refs to pull", p.o.Remote)
		}
		for name := range summary {
			names = append(names, name)
		}
	}
	var out []target
	for _, name := range names {
		if repo.IsChecksum(name) {
			c, _ := repo.ParseChecksum(name)
			out = append(out, target{name: name, commit: c})
			continue
		}
		if err := repo.ValidateRef(name); err != nil {
			return nil, fmt.Errorf("pull %s: %w", p.o.Remote, err)
		}
		t, ok, indexed, err := p.lookupRef(ctx, summary, name)
		if err != nil {
			return nil, err
		}
		if indexed {
			if !ok {
				return nil, &notFoundError{fmt.Sprintf("No such branch '%s' in repository summary", name)}
			}
			out = append(out, t)
			continue
		}
		data, err := p.f.get(ctx, "refs/heads/"+name, 1024)
		if errors.Is(err, ErrMissing) {
			return nil, &notFoundError{fmt.Sprintf("pull %s: ref %s not found on the remote (%s)", p.o.Remote, name, p.f.url("refs/heads/"+name))}
		}
		if err != nil {
			return nil, err
		}
		c, err := repo.ParseChecksum(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("pull %s: refs/heads/%s: %w", p.o.Remote, name, err)
		}
		out = append(out, target{name: name, ref: name, commit: c})
	}
	return out, nil
}

// fetchMetadata fetches, verifies and stages a metadata object, unless the
// repository has it already; it returns its bytes either way.
func (p *puller) fetchMetadata(ctx context.Context, c repo.Checksum, t repo.ObjectType) ([]byte, error) {
	// First what a delta or a pipeline staged (verified): walkDirs looked
	// in objects/ for the dirtrees it fetched already.
	if data, ok := p.takeLocalMeta(c); ok {
		return data, nil
	}
	if have, err := p.tx.HasPublished(c, t); err != nil {
		return nil, err
	} else if have {
		return p.r.ReadMetadata(c, t)
	}
	if data, err := p.metaFromCache(c, t); data != nil || err != nil {
		return data, err
	}
	data, err := p.fc.getChecked(ctx, repo.ArchiveObjectPath(c, t), maxMetadataFetch, func(data []byte) error {
		_, err := p.tx.WriteMetadata(t, data, &c)
		return err
	})
	if err != nil {
		return nil, err
	}
	p.metaFetched.Add(1)
	return data, nil
}

func (p *puller) firstVisit(c repo.Checksum) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen[c] {
		return false
	}
	p.seen[c] = true
	return true
}

// fetchContent downloads a content object, as the archive remote serves
// it, into the fetcher directory (resuming a partial download), then
// inflates, verifies and stages it. A partial left by an earlier pull may
// be complete already (that pull was killed between download and stage):
// it is verified first and used as it is, without a request. One that
// fails verification after being resumed may hold bad bytes of its own
// (the disk, a crash): it is dropped and the object fetched once more from
// byte 0, and Options.Notice hears of it, naming the partial file.
func (p *puller) fetchContent(ctx context.Context, c repo.Checksum) error {
	return p.fetchContentFrom(ctx, c, p.dir.Reused)
}

// fetchContentFrom is fetchContent, told whether c's partial download may
// exist (mayExist): one this pull began, or one of a reused fetcher
// directory, to resume.
func (p *puller) fetchContentFrom(ctx context.Context, c repo.Checksum, mayExist bool) error {
	if err := p.tx.CheckSpace(0); err != nil {
		return fmt.Errorf("pull %s: %w", p.o.Remote, err)
	}
	path := repo.ArchiveObjectPath(c, repo.ObjFile)
	if ok, err := p.contentFromCache(c); ok || err != nil {
		return err
	}
	partial := p.dir.PartialPath(c)
	if mayExist {
		done, err := p.stagePartial(c, partial)
		if done || err != nil {
			return err
		}
	}
	return p.fc.fetchObjectChecked(ctx, path, partial, smallBody, mayExist, func(mem []byte, size int64, resumed bool) error {
		err := p.stage(c, mem, partial, size)
		if err != nil && resumed && errors.Is(err, repo.ErrCorrupt) && p.o.Notice != nil {
			p.o.Notice(fmt.Errorf("pull %s: dropped the partial download %s and fetched the object again from byte 0: %w", p.o.Remote, partial, err))
		}
		return err
	})
}

// fetchContents is fetchContent of several objects, whose requests go
// out together on one connection (fetcher.fetchPipelined) when the
// content fetcher can pipeline them and no partial download of an earlier
// pull may exist. Those the pipeline did not bring are fetched one by
// one, as fetchContent does, the first resuming what the pipeline wrote
// of it, if anything.
func (p *puller) fetchContents(ctx context.Context, cs []repo.Checksum) error {
	if _, _, ok := p.fc.pipelined(); !ok || p.dir.Reused || len(cs) < 2 {
		for _, c := range cs {
			if err := p.fetchContent(ctx, c); err != nil {
				return err
			}
		}
		return nil
	}
	var todo []repo.Checksum
	for _, c := range cs {
		if err := p.tx.CheckSpace(0); err != nil {
			return fmt.Errorf("pull %s: %w", p.o.Remote, err)
		}
		if ok, err := p.contentFromCache(c); err != nil {
			return err
		} else if !ok {
			todo = append(todo, c)
		}
	}
	paths, parts := make([]string, len(todo)), make([]string, len(todo))
	for i, c := range todo {
		paths[i], parts[i] = repo.ArchiveObjectPath(c, repo.ObjFile), p.dir.PartialPath(c)
	}
	done, err := p.fc.fetchPipelined(ctx, paths, parts, smallBody, func(i int, mem []byte, size int64) error {
		return p.stage(todo[i], mem, parts[i], size)
	})
	if err != nil {
		return err
	}
	for i := done; i < len(todo); i++ {
		if err := p.fetchContentFrom(ctx, todo[i], i == done); err != nil {
			return err
		}
	}
	return nil
}

// stagePartial stages content object c from a partial download that an
// earlier pull left, if it is all there and verifies. It reports whether
// c is staged; a partial that is not a whole, valid object is left for
// fetchObject to resume (or replace).
func (p *puller) stagePartial(c repo.Checksum, partial string) (bool, error) {
	fh, err := os.Open(partial)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pull %s: %w", p.o.Remote, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil || st.Size() == 0 {
		return false, nil
	}
	fi, err := p.stageFile(c, fh, st.Size())
	if errors.Is(err, repo.ErrCorrupt) {
		return false, nil // a prefix, or bad bytes: ask the server
	}
	if err != nil {
		return false, fmt.Errorf("pull %s: %s: %w", p.o.Remote, partial, err)
	}
	os.Remove(partial)
	p.contentFetched.Add(1)
	p.written.Add(int64(fi.Size))
	return true, nil
}

// stage verifies and stages a fetched body, in memory or in the partial
// file, which is removed either way: a bad download is not to be resumed.
func (p *puller) stage(c repo.Checksum, mem []byte, partial string, size int64) error {
	var fi *repo.FileInfo
	var err error
	if mem != nil {
		fi, err = p.tx.WriteArchiveBytes(mem, c)
		p.f.recycle(mem)
	} else {
		fh, oerr := os.Open(partial)
		if oerr != nil {
			return oerr
		}
		fi, err = p.stageFile(c, fh, size)
		fh.Close()
		if !noSpace(err) {
			os.Remove(partial)
		}
	}
	if err != nil {
		return err
	}
	p.contentFetched.Add(1)
	p.written.Add(int64(fi.Size))
	return nil
}

// maxWholeFile is the largest partial download stageFile reads whole; a
// larger one is mapped instead. Few objects are larger, and buffers of
// their size, up to bufpool's largest, were most of a pull's peak memory:
// the pool keeps them, and the collector's target grows with them.
// maxWholeHeld bounds the bytes of partial downloads read into memory at
// once, all of a pull's together, and maxMappedHeld those mapped: mapped
// pages are the page cache's, no heap, but they count in the process's
// resident set while mapped.
const (
	maxWholeFile  = 1 << 20
	maxWholeHeld  = 16 << 20
	maxMappedHeld = 16 << 20
)

// stageFile verifies and stages content object c from fh, a download of
// size bytes in its partial file. The file is decoded in one go
// (repo.WriteArchiveBytes): read whole when it is at most maxWholeFile
// bytes and the pull's budget of memory allows (past it, it is streamed),
// else mapped, which costs no heap and no copy, and lets the large objects
// that end a pull go through the faster of the two decoders
// (internal/inflate's window reader rather than klauspost's streaming
// one). A mapped file waits for others to be done when the budget for
// them is spent: the large objects come at once at the end of a pull,
// more of them than there are cores to decode them, and streaming those
// past the budget cost more CPU than waiting. One larger than the whole
// budget is streamed.
func (p *puller) stageFile(c repo.Checksum, fh *os.File, size int64) (*repo.FileInfo, error) {
	if size > maxWholeFile {
		if size > maxMappedHeld {
			return p.tx.WriteArchiveStream(fh, size, c)
		}
		p.mapped.acquire(size, maxMappedHeld)
		defer p.mapped.release(size)
		return p.stageMapped(c, fh, size)
	}
	if p.wholeHeld.Add(size) > maxWholeHeld {
		p.wholeHeld.Add(-size)
		return p.tx.WriteArchiveStream(fh, size, c)
	}
	defer p.wholeHeld.Add(-size)
	buf := bufpool.Get(int(size))
	defer bufpool.Put(buf)
	n, err := io.ReadFull(fh, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		// Shorter than it was: as a stream of the wrong length would be.
		return nil, fmt.Errorf("%w: %s: %d bytes, expected %d", repo.ErrCorrupt, fh.Name(), n, size)
	}
	if err != nil {
		return nil, fmt.Errorf("pull %s: read %s: %w", p.o.Remote, fh.Name(), err)
	}
	return p.tx.WriteArchiveBytes(buf, c)
}

// budget counts bytes held, up to a limit that acquire waits under; the
// zero value holds nothing. Holders release what they hold whatever
// happens, in the time a disk write takes, so a wait ends.
type budget struct {
	mu   sync.Mutex
	held int64
	wake chan struct{} // closed when bytes are released; nil: nobody waits
}

// acquire waits until n more bytes fit under limit, or nothing is held.
func (b *budget) acquire(n, limit int64) {
	b.mu.Lock()
	for b.held > 0 && b.held+n > limit {
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		w := b.wake
		b.mu.Unlock()
		<-w
		b.mu.Lock()
	}
	b.held += n
	b.mu.Unlock()
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.held -= n
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	b.mu.Unlock()
}

// load is what b holds.
func (b *budget) load() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held
}

// stageMapped is stageFile of a partial download mapped into memory. The
// file is the pull's own, in its locked fetcher directory, so nothing
// shortens it while it is mapped; one shorter than the download was is
// corrupt, as a short read would be.
func (p *puller) stageMapped(c repo.Checksum, fh *os.File, size int64) (*repo.FileInfo, error) {
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", p.o.Remote, err)
	}
	if st.Size() < size {
		return nil, fmt.Errorf("%w: %s: %d bytes, expected %d", repo.ErrCorrupt, fh.Name(), st.Size(), size)
	}
	data, err := unix.Mmap(int(fh.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("pull %s: map %s: %w", p.o.Remote, fh.Name(), err)
	}
	defer unix.Munmap(data)
	var fi *repo.FileInfo
	err = readMapped(data, func() (err error) {
		fi, err = p.tx.WriteArchiveBytes(data, c)
		return err
	})
	if err != nil && errors.Is(err, errMappedFault) {
		return nil, fmt.Errorf("pull %s: read %s: %w", p.o.Remote, fh.Name(), err)
	}
	return fi, err
}

// errMappedFault is the error of a read of a mapped file that faulted.
var errMappedFault = errors.New("the mapped file could not be read (shortened meanwhile, or an I/O error)")

// readMapped runs f, which reads data, a mapping of a file, on this
// goroutine. A read that faults (SIGBUS: the file was shortened under the
// mapping, or the disk failed to read a page) ends f with errMappedFault
// instead of the process; any other panic goes on.
func readMapped(data []byte, f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if fe, ok := r.(interface{ Addr() uintptr }); ok && len(data) > 0 {
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
			if a := fe.Addr(); a >= lo && a < lo+uintptr(len(data)) {
				err = fmt.Errorf("%w: byte %d: %v", errMappedFault, a-lo, r)
				return
			}
		}
		panic(r)
	}()
	return f()
}
