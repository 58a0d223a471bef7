package pull

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
)

// requestLog serves dir and remembers the paths requested.
type requestLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *requestLog) serve(t *testing.T, dir string) *httptest.Server {
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		l.mu.Lock()
		l.paths = append(l.paths, req.URL.Path)
		l.mu.Unlock()
		fs.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// take returns the paths requested since the last call.
func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.paths
	l.paths = nil
	return p
}

func matching(paths []string, suffix string) []string {
	var out []string
	for _, p := range paths {
		if strings.HasSuffix(p, suffix) {
			out = append(out, p)
		}
	}
	return out
}

// TestPullFlatpakSummaryIndex: a repository built by the real flatpak
// tools whose plain summary lists only x86_64 refs, as Flathub's does. The
// aarch64 app resolves through summary.idx and its subsummary; after a new
// commit the next pull updates the cached subsummary through its .delta,
// not the whole .gz; remote refs lists both arches.
func TestPullFlatpakSummaryIndex(t *testing.T) {
	fr := repotest.NewFlatpakRepo(t, "x86_64")
	const id = "org.test.Hello"
	arm, x86 := repotest.AppRef(id, "aarch64", "stable"), repotest.AppRef(id, "x86_64", "stable")
	fr.Export(t, id, "x86_64", "stable", "hello x86_64\n")
	c1 := fr.Export(t, id, "aarch64", "stable", "hello aarch64\n")
	fr.UpdateRepo(t)
	if out := repotest.Ostree(t, "refs", "--repo="+fr.Path); !strings.Contains(out, arm) {
		t.Fatalf("flatpak did not export %s: %s", arm, out)
	}
	if s, err := repo.DecodeSummary(repotest.ReadFile(t, fr.Path+"/summary")); err != nil || slices.ContainsFunc(s.Refs, func(r repo.SummaryRef) bool { return r.Name == arm }) {
		t.Fatalf("the plain summary lists %s (or is unreadable: %v): the test needs it absent", arm, err)
	}
	var log requestLog
	srv := log.serve(t, fr.Path)
	r := newClient(t, repo.ModeBareUser, srv.URL)
	ctx := context.Background()

	pullArm := func(want string) {
		t.Helper()
		if _, err := Pull(ctx, r, Options{Remote: "origin", Refs: []string{arm}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := r.ReadRef("origin", arm); got.String() != want {
			t.Fatalf("origin:%s = %s, want %s", arm, got, want)
		}
	}
	pullArm(c1)
	first := log.take()
	if len(matching(first, "/summary.idx")) != 1 || len(matching(first, ".gz")) != 1 {
		t.Errorf("first pull requested %v, want summary.idx and one subsummary .gz", first)
	}

	c2 := fr.Export(t, id, "aarch64", "stable", "hello aarch64, again\n")
	fr.UpdateRepo(t)
	pullArm(c2)
	second := log.take()
	if len(matching(second, ".delta")) != 1 || len(matching(second, ".gz")) != 0 {
		t.Errorf("second pull requested %v, want the subsummary's .delta and no .gz", second)
	}
	if rep, err := r.Fsck(ctx, repo.FsckOptions{}); err != nil || len(rep.Problems) > 0 {
		t.Errorf("fsck: %v %+v", err, rep)
	}

	refs, err := RemoteRefs(ctx, r, "origin")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(refs, []string{arm, x86}) {
		t.Errorf("RemoteRefs = %v, want [%s %s]", refs, arm, x86)
	}
	// A ref in no subsummary is still "No such branch".
	if _, err := Pull(ctx, r, Options{Remote: "origin", Refs: []string{repotest.AppRef(id, "riscv64", "stable")}}); err == nil || !strings.Contains(err.Error(), "No such branch") {
		t.Errorf("pull of a ref nobody publishes: %v", err)
	}
}
