package pull

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
)

// TestPullOptions pulls one ostree-made source in each way Options allow
// and checks what landed: which commits, which refs, what stays partial.
func TestPullOptions(t *testing.T) {
	repotest.RequireOstree(t)
	var hideSummary atomic.Bool
	s := newSource(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if hideSummary.Load() && strings.HasPrefix(req.URL.Path, "/summary") {
				http.NotFound(w, req)
				return
			}
			h.ServeHTTP(w, req)
		})
	})
	c1, c2, c3 := s.fx.Commits[0], s.fx.Commits[1], s.fx.Commits[2]
	for _, tc := range []struct {
		name      string
		o         Options
		branches  []string // the remote's branches= key
		noSummary bool
		// commits that must be present, complete (not partial), and absent
		have, complete, absent []string
		// refs that must be set, as REMOTE:REF ("" remote for refs/heads)
		refs []string
		// noRefs: no ref at all is written
		noRefs bool
	}{
		{name: "depth 0", o: Options{Refs: []string{"test/main"}},
			have: []string{c3}, complete: []string{c3}, absent: []string{c2, c1}, refs: []string{"origin:test/main"}},
		{name: "depth 1", o: Options{Refs: []string{"test/main"}, Depth: 1},
			have: []string{c3, c2}, complete: []string{c3, c2}, absent: []string{c1}, refs: []string{"origin:test/main"}},
		{name: "all history", o: Options{Refs: []string{"test/main"}, Depth: -1},
			have: []string{c3, c2, c1}, complete: []string{c3, c2, c1}},
		{name: "mirror", o: Options{Refs: []string{"test/main", "stable"}, Mirror: true},
			have: []string{c3}, refs: []string{":test/main", ":stable"}},
		{name: "commit metadata only", o: Options{Refs: []string{"test/main"}, CommitMetadataOnly: true, Depth: -1},
			have: []string{c3, c2, c1}, refs: []string{"origin:test/main"}},
		{name: "checksum", o: Options{Refs: []string{c2}},
			have: []string{c2}, complete: []string{c2}, absent: []string{c3, c1}, noRefs: true},
		{name: "default: every ref of the summary", o: Options{},
			have: []string{c3}, refs: []string{"origin:test/main", "origin:test/other", "origin:stable"}},
		{name: "default: the remote's branches", o: Options{}, branches: []string{"stable"},
			have: []string{s.fx.Commits[4]}, absent: []string{c3}, refs: []string{"origin:stable"}},
		{name: "no summary: refs/heads", o: Options{Refs: []string{"test/other"}}, noSummary: true,
			have: []string{s.fx.Commits[3]}, complete: []string{s.fx.Commits[3]}, refs: []string{"origin:test/other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hideSummary.Store(tc.noSummary)
			r, err := repo.Init(filepath.Join(t.TempDir(), "client"), repo.ModeBareUser)
			if err != nil {
				t.Fatal(err)
			}
			if err := AddRemote(context.Background(), r, "origin", s.srv.URL, AddOptions{NoGPGVerify: true, Branches: tc.branches}); err != nil {
				t.Fatal(err)
			}
			o := tc.o
			o.Remote = "origin"
			if _, err := Pull(t.Context(), r, o); err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.have {
				if _, err := r.ReadCommit(mustParse(t, c)); err != nil {
					t.Errorf("commit %s: %v", c, err)
				}
			}
			for _, c := range tc.absent {
				if has, _ := r.HasObject(mustParse(t, c), repo.ObjCommit); has {
					t.Errorf("commit %s was pulled", c)
				}
			}
			for _, c := range tc.complete {
				if p, err := r.IsPartial(mustParse(t, c)); p || err != nil {
					t.Errorf("commit %s partial=%v %v", c, p, err)
				}
			}
			if o.CommitMetadataOnly {
				for _, c := range tc.have {
					cm, _ := r.ReadCommit(mustParse(t, c))
					if p, _ := r.IsPartial(cm.Checksum); !p {
						t.Errorf("commit %s not marked partial", c)
					}
					if has, _ := r.HasObject(cm.RootTree, repo.ObjDirTree); has {
						t.Errorf("commit %s: its tree was pulled", c)
					}
				}
			}
			for _, rf := range tc.refs {
				remote, name, _ := strings.Cut(rf, ":")
				if c, err := r.ReadRef(remote, name); err != nil || c.String() != s.fx.Refs[name] {
					t.Errorf("ref %s = %v %v, want %s", rf, c, err, s.fx.Refs[name])
				}
			}
			refs, _ := r.ListRefs("", true)
			if tc.noRefs && len(refs) != 0 {
				t.Errorf("refs written: %v", refs)
			}
			if !tc.noRefs && len(tc.refs) > 0 && len(refs) != len(tc.refs) {
				t.Errorf("refs %v, want %v", refs, tc.refs)
			}
			if o.Depth == -1 && !o.CommitMetadataOnly {
				repotest.Ostree(t, "--repo="+r.Path(), "fsck")
			}
		})
	}
}

// TestPullBareUserOnly pulls a source that fits bare-user-only (owner 0:0,
// no xattrs, no setuid: ostree commit --canonical-permissions --no-xattrs)
// into a bare-user-only repository.
func TestPullBareUserOnly(t *testing.T) {
	repotest.RequireOstree(t)
	src := filepath.Join(t.TempDir(), "src")
	repotest.Init(t, src, "archive")
	tree := t.TempDir()
	repotest.WriteTree(t, tree, repotest.FixtureEntries(repotest.FixtureOpts{Wide: 100}))
	repotest.Commit(t, src, "os/main", tree, repotest.CommitOpts{Extra: []string{"--canonical-permissions", "--no-xattrs"}})
	repotest.Ostree(t, "--repo="+src, "summary", "-u")
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer srv.Close()
	r := newClient(t, repo.ModeBareUserOnly, srv.URL)
	if _, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"os/main"}}); err != nil {
		t.Fatal(err)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
	want := repotest.Ostree(t, "--repo="+src, "ls", "-R", "-C", "os/main")
	if got := repotest.Ostree(t, "--repo="+r.Path(), "ls", "-R", "-C", "origin:os/main"); got != want {
		t.Errorf("ls -R -C differs:\n%s\nwant\n%s", got, want)
	}
}

// TestPullFileURL pulls from a file:// remote, as ostree can.
func TestPullFileURL(t *testing.T) {
	repotest.RequireOstree(t)
	fx := repotest.NewFixture(t, "archive", repotest.FixtureOpts{Wide: 50})
	r := newClient(t, repo.ModeBareUser, "file://"+fx.Repo)
	if _, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"test/main", "stable"}}); err != nil {
		t.Fatal(err)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
	for _, ref := range []string{"test/main", "stable"} {
		want := repotest.Ostree(t, "--repo="+fx.Repo, "ls", "-R", "-C", ref)
		if got := repotest.Ostree(t, "--repo="+r.Path(), "ls", "-R", "-C", "origin:"+ref); got != want {
			t.Errorf("%s: ls -R -C differs from the source", ref)
		}
	}
	_, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"no/such"}})
	if !errors.Is(err, repo.ErrNotFound) {
		t.Errorf("pull of a missing ref: %v, want ErrNotFound", err)
	}
}

// TestPullRandomCorruption flips a byte in some responses: each pull either
// completes or fails with ErrCorrupt, and the repository stays clean
// whatever happened, so that pulling again eventually completes.
func TestPullRandomCorruption(t *testing.T) {
	repotest.RequireOstree(t)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(11, 5))
	var on atomic.Bool
	on.Store(true)
	s := newSource(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			mu.Lock()
			hit := rng.Float64() < 0.02
			mu.Unlock()
			p := req.URL.Path
			if !on.Load() || !hit || !strings.HasPrefix(p, "/objects/") {
				h.ServeHTTP(w, req)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			b := rec.Body.Bytes()
			if rec.Code != http.StatusOK || len(b) == 0 {
				w.WriteHeader(rec.Code)
				return
			}
			mu.Lock()
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			mu.Unlock()
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.Write(b)
		})
	})
	r := newClient(t, repo.ModeBareUser, s.srv.URL)
	failures := 0
	for attempt := 0; ; attempt++ {
		if attempt == 8 {
			on.Store(false) // enough: let the last pull through
		}
		_, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"test/main", "test/other"}, Depth: -1})
		if err == nil {
			break
		}
		if !errors.Is(err, repo.ErrCorrupt) || !strings.Contains(err.Error(), s.srv.URL+"/objects/") {
			t.Fatalf("attempt %d: %v, want ErrCorrupt naming the object's URL", attempt, err)
		}
		failures++
		if _, err := r.ReadRef("origin", "test/main"); !errors.Is(err, repo.ErrNotFound) {
			t.Fatalf("attempt %d: a failed pull moved the ref: %v", attempt, err)
		}
		rep, err := r.Fsck(context.Background(), repo.FsckOptions{})
		if err != nil || len(rep.Problems) > 0 {
			t.Fatalf("attempt %d: fsck after a corrupt download: %v %+v", attempt, err, rep)
		}
	}
	if failures == 0 {
		t.Log("no pull hit a corrupted object")
	}
	s.check(t, r, "test/main", "test/other")
}

// TestPullCommitSizeBound: a commit bigger than the summary says is refused
// before it is read whole.
func TestPullCommitSizeBound(t *testing.T) {
	repotest.RequireOstree(t)
	var commitPath string
	s := newSource(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if commitPath != "" && req.URL.Path == commitPath {
				w.Header().Set("Content-Length", "4096")
				w.Write(make([]byte, 4096))
				return
			}
			h.ServeHTTP(w, req)
		})
	})
	c := s.fx.Refs["stable"]
	commitPath = "/objects/" + c[:2] + "/" + c[2:] + ".commit"
	r := newClient(t, repo.ModeArchive, s.srv.URL)
	_, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"stable"}, Retries: 1})
	if err == nil || !strings.Contains(err.Error(), "allowed") || !strings.Contains(err.Error(), commitPath) {
		t.Fatalf("oversized commit: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(r.Path(), "objects")); len(ents) != 0 {
		t.Errorf("objects/ has %d entries after a refused pull", len(ents))
	}
}

// TestPullRefBinding: a commit served under a ref its ostree.ref-binding
// does not name is refused, as ostree refuses it; by checksum it is fine.
func TestPullRefBinding(t *testing.T) {
	repotest.RequireOstree(t)
	src := filepath.Join(t.TempDir(), "src")
	repotest.Init(t, src, "archive")
	tree := t.TempDir()
	repotest.WriteTree(t, tree, []repotest.Entry{{Path: "f", Kind: repotest.File, Data: []byte("f\n")}})
	c := repotest.Commit(t, src, "main", tree, repotest.CommitOpts{})
	repotest.Ostree(t, "--repo="+src, "refs", "--create=alias", "main")
	repotest.Ostree(t, "--repo="+src, "summary", "-u")
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer srv.Close()
	r := newClient(t, repo.ModeBareUser, srv.URL)
	_, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"alias"}})
	if !errors.Is(err, ErrRefBinding) || !strings.Contains(err.Error(), "Commit has no requested ref \u2018alias\u2019 in ref binding metadata (\u2018main\u2019)") {
		t.Fatalf("pull alias: %v, want ErrRefBinding in ostree's words", err)
	}
	if _, err := r.ReadRef("origin", "alias"); !errors.Is(err, repo.ErrNotFound) {
		t.Errorf("ref written: %v", err)
	}
	_, wantErr, code := repotest.RunOstree(t, "--repo="+r.Path(), "pull", "origin", "alias")
	if code == 0 || !strings.Contains(wantErr, "ref binding") {
		t.Errorf("ostree pull alias: exit %d, %s", code, wantErr)
	}
	var last Progress
	if _, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"main", c}, Progress: func(p Progress) { last = p }}); err != nil {
		t.Fatal(err)
	}
	if !last.Done || last.ContentFetched != 1 || last.MetadataFetched < 3 {
		t.Errorf("last progress %+v", last)
	}
}

// TestPullDepthParents: with --depth, a parent commit missing on the server
// is history pruned there, and the pull succeeds without it; a parent whose
// tree is missing objects fails the pull, and nothing of it is stored as a
// complete commit.
func TestPullDepthParents(t *testing.T) {
	repotest.RequireOstree(t)
	var hide atomic.Value // a path to answer 404 for
	hide.Store("")
	s := newSource(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == hide.Load().(string) {
				http.NotFound(w, req)
				return
			}
			h.ServeHTTP(w, req)
		})
	})
	c2, c3 := mustParse(t, s.fx.Commits[1]), mustParse(t, s.fx.Commits[2])
	src, err := repo.Open(s.fx.Repo)
	if err != nil {
		t.Fatal(err)
	}
	parent, err := src.ReadCommit(c2)
	if err != nil {
		t.Fatal(err)
	}
	objPath := func(c repo.Checksum, ext string) string {
		return "/objects/" + c.String()[:2] + "/" + c.String()[2:] + "." + ext
	}

	hide.Store(objPath(c2, "commit"))
	r := newClient(t, repo.ModeBareUser, s.srv.URL)
	if _, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"test/main"}, Depth: 1}); err != nil {
		t.Fatalf("parent pruned on the server: %v", err)
	}
	if p, err := r.IsPartial(c3); p || err != nil {
		t.Errorf("commit %s partial=%v %v", c3, p, err)
	}
	if has, _ := r.HasObject(c2, repo.ObjCommit); has {
		t.Errorf("the pruned parent %s is stored", c2)
	}

	hide.Store(objPath(parent.RootTree, "dirtree"))
	r = newClient(t, repo.ModeBareUser, s.srv.URL)
	_, err = Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"test/main"}, Depth: 1})
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), objPath(parent.RootTree, "dirtree")) {
		t.Fatalf("parent with a missing tree: %v, want ErrMissing naming its URL", err)
	}
	if has, _ := r.HasObject(c2, repo.ObjCommit); has {
		if p, _ := r.IsPartial(c2); !p {
			t.Errorf("parent %s stored as complete without its tree", c2)
		}
	}
	if _, err := r.ReadRef("origin", "test/main"); !errors.Is(err, repo.ErrNotFound) {
		t.Errorf("ref set by a failed pull: %v", err)
	}
}
