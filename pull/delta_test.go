package pull

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
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
