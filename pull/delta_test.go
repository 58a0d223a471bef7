package pull

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/delta"
)

// deltaServer serves a DeltaSource and logs the paths requested.
type deltaServer struct {
	ds  *repotest.DeltaSource
	srv *httptest.Server
	mu  sync.Mutex
	log []string
}

func newDeltaServer(t *testing.T, ds *repotest.DeltaSource, wrap func(http.Handler) http.Handler) *deltaServer {
	t.Helper()
	s := &deltaServer{ds: ds}
	var h http.Handler = http.FileServer(http.Dir(ds.Repo))
	if wrap != nil {
		h = wrap(h)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		s.log = append(s.log, req.URL.Path)
		s.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// requests returns the paths requested since the last call.
func (s *deltaServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log
	s.log = nil
	return l
}

func count(paths []string, pred func(string) bool) int {
	n := 0
	for _, p := range paths {
		if pred(p) {
			n++
		}
	}
	return n
}

func isFilez(p string) bool { return strings.HasSuffix(p, ".filez") }
func isSuperblock(p string) bool {
	return strings.HasPrefix(p, "/deltas/") && strings.HasSuffix(p, "/superblock")
}
func isPart(p string) bool { return strings.HasPrefix(p, "/deltas/") && !isSuperblock(p) }

// checkDeltaPull checks the client's main against the source's T'.
func checkDeltaPull(t *testing.T, ds *repotest.DeltaSource, r *repo.Repo) {
	t.Helper()
	c, err := r.ReadRef("origin", "main")
	if err != nil || c.String() != ds.To {
		t.Fatalf("origin:main = %v %v, want %s", c, err, ds.To)
	}
	want := repotest.Ostree(t, "--repo="+ds.Repo, "ls", "-R", "-C", ds.To)
	if got := repotest.Ostree(t, "--repo="+r.Path(), "ls", "-R", "-C", "origin:main"); got != want {
		t.Errorf("ls -R differs from the source:\n%s\nwant\n%s", got, want)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
}

func TestPullThroughDeltas(t *testing.T) {
	repotest.RequireOstree(t)
	ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 200, Big: 512 << 10})
	indexOnly := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 60, Big: 300 << 10})
	repotest.Ostree(t, "--repo="+indexOnly.Repo, "config", "set", "core.no-deltas-in-summary", "true")
	repotest.Ostree(t, "--repo="+indexOnly.Repo, "summary", "-u")
	for _, src := range []struct {
		name string
		ds   *repotest.DeltaSource
	}{{"summary", ds}, {"index only", indexOnly}} {
		for _, mode := range []repo.Mode{repo.ModeBareUser, repo.ModeArchive} {
			t.Run(src.name+"/"+mode.String(), func(t *testing.T) {
				s := newDeltaServer(t, src.ds, nil)
				ctx := context.Background()
				// From scratch: the scratch delta.
				r := newClient(t, mode, s.srv.URL)
				var fallbacks []error
				o := Options{Remote: "origin", Refs: []string{"main"}, DeltaFallback: func(err error) { fallbacks = append(fallbacks, err) }}
				res, err := Pull(ctx, r, o)
				if err != nil {
					t.Fatal(err)
				}
				log := s.requests()
				if len(res.Deltas) != 1 || res.Deltas[0].Name != src.ds.To || len(fallbacks) > 0 {
					t.Fatalf("deltas %+v, fallbacks %v; want the scratch delta", res.Deltas, fallbacks)
				}
				if count(log, isSuperblock) != 1 || count(log, isPart) == 0 || count(log, isFilez) != 0 {
					t.Errorf("requests: %q; want a superblock, parts and no .filez", log)
				}
				if src.ds == indexOnly && count(log, func(p string) bool { return strings.HasPrefix(p, "/delta-indexes/") }) != 1 {
					t.Errorf("requests: %q; want the delta index", log)
				}
				checkDeltaPull(t, src.ds, r)

				// An update: from T, complete locally, the delta T→T'.
				r = newClient(t, mode, s.srv.URL)
				if _, err := Pull(ctx, r, Options{Remote: "origin", Refs: []string{src.ds.From}, DisableStaticDeltas: true}); err != nil {
					t.Fatal(err)
				}
				s.requests()
				if res, err = Pull(ctx, r, o); err != nil {
					t.Fatal(err)
				}
				log = s.requests()
				if len(res.Deltas) != 1 || res.Deltas[0].Name != src.ds.From+"-"+src.ds.To || len(fallbacks) > 0 {
					t.Fatalf("deltas %+v, fallbacks %v; want %s-%s", res.Deltas, fallbacks, src.ds.From, src.ds.To)
				}
				if count(log, isSuperblock) != 1 || count(log, isPart) == 0 || count(log, isFilez) != 0 {
					t.Errorf("requests: %q; want a superblock, parts and no .filez", log)
				}
				if res.DeltaParts != res.DeltaPartsTotal || res.DeltaBytes != res.DeltaBytesTotal || res.DeltaObjects == 0 {
					t.Errorf("delta progress %+v", res.Progress)
				}
				checkDeltaPull(t, src.ds, r)
			})
		}
	}
}

// TestPullDeltaFaults breaks the update delta on the server in ways a
// pull must survive: it drops the delta (or part), fetches the objects
// instead, and stores nothing unverified.
func TestPullDeltaFaults(t *testing.T) {
	repotest.RequireOstree(t)
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, dir string, sb *delta.Superblock)
	}{
		{"flipped byte", func(t *testing.T, dir string, sb *delta.Superblock) {
			p := filepath.Join(dir, sb.Name.PartPath(0))
			b := readFile(t, p)
			b[len(b)/2] ^= 0x40
			writeFile(t, p, b)
		}},
		{"truncated part", func(t *testing.T, dir string, sb *delta.Superblock) {
			p := filepath.Join(dir, sb.Name.PartPath(0))
			b := readFile(t, p)
			writeFile(t, p, b[:len(b)/2])
		}},
		{"part bigger than declared", func(t *testing.T, dir string, sb *delta.Superblock) {
			sb.Parts[0].Size -= 10
			writeSuperblock(t, dir, sb)
		}},
		{"part smaller than declared", func(t *testing.T, dir string, sb *delta.Superblock) {
			sb.Parts[0].Size += 1000
			writeSuperblock(t, dir, sb)
		}},
		{"hostile bytecode", func(t *testing.T, dir string, sb *delta.Superblock) {
			// Write past the object, then a bspatch with bad lengths, then
			// a huge declared size: each must fail the part cleanly.
			ops := []byte{'o', 0, 0, 3, 'w', 5, 0}
			ops = append(ops, 'r', 0, 'o', 0, 0, 4, 'B', 0, 0x7f)
			ops = append(ops, 'o', 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'c')
			hostile := &delta.Part{Modes: []delta.Mode{{Mode: 0o100644}}, Xattrs: [][]repo.Xattr{nil}, Blob: make([]byte, 64), Ops: ops}
			file, err := delta.EncodePart(hostile, true)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, sb.Name.PartPath(0)), file)
			sb.Parts[0].Size = uint64(len(file))
			sb.Parts[0].Checksum = repo.Checksum(sha256Sum(file))
			sb.Parts[0].USize = 1 << 60
			writeSuperblock(t, dir, sb)
		}},
		{"xz dictionary of 4 GiB", func(t *testing.T, dir string, sb *delta.Superblock) {
			// The decoder would allocate it before decoding a byte.
			p := filepath.Join(dir, sb.Name.PartPath(0))
			part, err := delta.DecodePart(readFile(t, p), delta.Limit(&sb.Parts[0]))
			if err != nil {
				t.Fatal(err)
			}
			file, err := delta.EncodePart(part, true)
			if err != nil {
				t.Fatal(err)
			}
			h := file[1+12:] // the compression byte, the xz stream header
			h = h[:(int(h[0])+1)*4]
			i := bytes.Index(h, []byte{0x21, 0x01}) // LZMA2, one byte of properties
			if i < 0 {
				t.Fatalf("no LZMA2 filter in % x", h)
			}
			h[i+2] = 40
			binary.LittleEndian.PutUint32(h[len(h)-4:], crc32.ChecksumIEEE(h[:len(h)-4]))
			writeFile(t, p, file)
			sb.Parts[0].Size = uint64(len(file))
			sb.Parts[0].Checksum = repo.Checksum(sha256Sum(file))
			writeSuperblock(t, dir, sb)
		}},
		{"xz blocks, one shorter than its index says", func(t *testing.T, dir string, sb *delta.Superblock) {
			// A part of several xz blocks decodes them in parallel; each
			// must make what the stream's index says.
			p := filepath.Join(dir, sb.Name.PartPath(0))
			part, err := delta.DecodePart(readFile(t, p), delta.Limit(&sb.Parts[0]))
			if err != nil {
				t.Fatal(err)
			}
			part.Blob = append(part.Blob, make([]byte, 2<<20)...) // several blocks
			file, err := delta.EncodePart(part, true)
			if err != nil {
				t.Fatal(err)
			}
			s := file[1:]
			idx := s[len(s)-12-int(binary.LittleEndian.Uint32(s[len(s)-8:])+1)*4 : len(s)-12]
			n, k := binary.Uvarint(idx[1:])
			if n < 2 {
				t.Fatalf("%d xz blocks, want several", n)
			}
			at := 1 + k
			for range n { // to the last record's uncompressed size
				_, k1 := binary.Uvarint(idx[at:])
				at += k1
				if n--; n > 0 {
					_, k2 := binary.Uvarint(idx[at:])
					at += k2
				}
			}
			idx[at]-- // its low bits: one byte less
			binary.LittleEndian.PutUint32(idx[len(idx)-4:], crc32.ChecksumIEEE(idx[:len(idx)-4]))
			writeFile(t, p, file)
			sb.Parts[0].Size = uint64(len(file))
			sb.Parts[0].Checksum = repo.Checksum(sha256Sum(file))
			sb.Parts[0].USize += 2 << 20
			writeSuperblock(t, dir, sb)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 40, Big: 400 << 10, NoScratch: true})
			from, to := mustParse(t, ds.From), mustParse(t, ds.To)
			dn := delta.Name{From: from, To: to}
			sb, err := delta.DecodeSuperblock(readFile(t, filepath.Join(ds.Repo, dn.SuperblockPath())))
			if err != nil {
				t.Fatal(err)
			}
			tc.break_(t, ds.Repo, sb)
			repotest.Ostree(t, "--repo="+ds.Repo, "summary", "-u") // new superblock digests
			s := newDeltaServer(t, ds, nil)
			r := newClient(t, repo.ModeBareUser, s.srv.URL)
			ctx := context.Background()
			if _, err := Pull(ctx, r, Options{Remote: "origin", Refs: []string{ds.From}, DisableStaticDeltas: true}); err != nil {
				t.Fatal(err)
			}
			s.requests()
			var fallbacks []error
			res, err := Pull(ctx, r, Options{Remote: "origin", Refs: []string{"main"}, Retries: -1,
				DeltaFallback: func(err error) { fallbacks = append(fallbacks, err) }})
			if err != nil {
				t.Fatal(err)
			}
			log := s.requests()
			if len(fallbacks) == 0 || !errors.Is(fallbacks[0], delta.ErrInvalid) && !strings.Contains(fallbacks[0].Error(), "bytes") {
				t.Errorf("fallbacks %v, want the delta's fault", fallbacks)
			}
			if strings.Contains(tc.name, "dictionary") && (len(fallbacks) == 0 || !errors.Is(fallbacks[0], delta.ErrDictTooLarge)) {
				t.Errorf("fallbacks %v, want ErrDictTooLarge", fallbacks)
			}
			if count(log, isFilez) == 0 || res.DeltaParts != 0 {
				t.Errorf("requests %q, delta parts %d: want objects fetched instead", log, res.DeltaParts)
			}
			checkDeltaPull(t, ds, r)

			// Required deltas: the same fault fails the pull clearly.
			r = newClient(t, repo.ModeBareUser, s.srv.URL)
			if _, err := Pull(ctx, r, Options{Remote: "origin", Refs: []string{ds.From}, DisableStaticDeltas: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := Pull(ctx, r, Options{Remote: "origin", Refs: []string{"main"}, Retries: -1, RequireStaticDeltas: true}); err == nil {
				t.Errorf("a broken delta with --require-static-deltas succeeded")
			}
			repotest.Ostree(t, "--repo="+r.Path(), "fsck")
		})
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeSuperblock(t *testing.T, dir string, sb *delta.Superblock) {
	t.Helper()
	b, err := delta.EncodeSuperblock(sb)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, sb.Name.SuperblockPath()), b)
}

// TestFetchPartResumes: a part half on disk from an interrupted pull is
// finished with a Range request that re-sends none of it; a server
// sending more than the declared size is cut off.
func TestFetchPartResumes(t *testing.T) {
	body := repotest.Pseudorandom("part", 1<<20)
	var sent atomic.Int64
	var ranged atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Range") != "" {
			ranged.Add(1)
		}
		cw := &countingWriter{ResponseWriter: w, n: &sent}
		http.ServeContent(cw, req, "part", time.Time{}, bytes.NewReader(body))
	}))
	defer srv.Close()
	f, err := newFetcher("origin", srv.URL, 0)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "deltapart")
	writeFile(t, dst, body[:len(body)/2])
	var done atomic.Int64
	if err := f.fetchPart(t.Context(), "deltas/x/0", dst, int64(len(body)), &done); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dst); !bytes.Equal(got, body) {
		t.Fatalf("resumed part differs")
	}
	if ranged.Load() != 1 || sent.Load() > int64(len(body))/2 || done.Load() != int64(len(body)) {
		t.Errorf("%d ranged requests, %d bytes re-sent, %d done; want 1, at most half, all", ranged.Load(), sent.Load(), done.Load())
	}
	os.Remove(dst)
	if err := f.fetchPart(t.Context(), "deltas/x/0", dst, int64(len(body))-10, &done); err == nil {
		t.Errorf("a part longer than declared was accepted")
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("an oversized part was kept: %v", err)
	}
}

// TestFetchPartPrefixes: what an interrupted pull left of a part decides
// the request: nothing (fetched whole), a prefix (resumed with Range), the
// whole part (no request: verification decides), more than the declared
// size (dropped, fetched whole again).
func TestFetchPartPrefixes(t *testing.T) {
	body := repotest.Pseudorandom("part", 256<<10)
	var requests, ranged atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requests.Add(1)
		if req.Header.Get("Range") != "" {
			ranged.Add(1)
		}
		http.ServeContent(w, req, "part", time.Time{}, bytes.NewReader(body))
	}))
	defer srv.Close()
	f, err := newFetcher("origin", srv.URL, 0)
	if err != nil {
		t.Fatal(err)
	}
	longer := append(append([]byte(nil), body...), "extra"...)
	for _, c := range []struct {
		name                string
		onDisk              []byte // nil: no file
		requests, rangedReq int64
	}{
		{"none", nil, 1, 0},
		{"prefix", body[:1000], 1, 1},
		{"whole", body, 0, 0},
		{"longer", longer, 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			requests.Store(0)
			ranged.Store(0)
			dst := filepath.Join(t.TempDir(), "part")
			if c.onDisk != nil {
				writeFile(t, dst, c.onDisk)
			}
			var done atomic.Int64
			if err := f.fetchPart(t.Context(), "deltas/x/0", dst, int64(len(body)), &done); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, dst); !bytes.Equal(got, body) {
				t.Fatalf("part on disk differs from the server's (%d bytes)", len(got))
			}
			if requests.Load() != c.requests || ranged.Load() != c.rangedReq || done.Load() != int64(len(body)) {
				t.Errorf("%d requests (%d ranged), %d bytes done; want %d (%d), %d", requests.Load(), ranged.Load(), done.Load(), c.requests, c.rangedReq, len(body))
			}
		})
	}
}
