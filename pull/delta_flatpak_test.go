package pull

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/delta"
)

// TestPullFlatpakDeltas pulls an app from a repository built by the real
// flatpak tools, static deltas made by `flatpak build-update-repo
// --generate-static-deltas`: the first commit through flatpak's scratch
// delta, then the update through its delta from the first commit. Once
// with the deltas listed in the summary too, once with the app's arch
// left out of the plain summary (flatpak.summary-arches), so that its ref
// is only in a subsummary, which lists no deltas: the deltas are then
// found only through delta-indexes/.
func TestPullFlatpakDeltas(t *testing.T) {
	for _, src := range []struct {
		name, arch    string
		summaryArches []string
		indexOnly     bool
	}{
		{"summary", "x86_64", nil, false},
		{"index only", "aarch64", []string{"x86_64"}, true},
	} {
		t.Run(src.name, func(t *testing.T) {
			fs := repotest.NewFlatpakDeltaSource(t, src.arch, src.summaryArches...)
			update := fs.From + "-" + fs.To
			s, err := repo.DecodeSummary(repotest.ReadFile(t, filepath.Join(fs.Repo, "summary")))
			if err != nil {
				t.Fatal(err)
			}
			if _, listed := s.StaticDeltas[update]; listed == src.indexOnly || !s.IndexedDeltas {
				t.Fatalf("summary lists delta %s: %v, indexed-deltas %v; the test needs %v, true", update, listed, s.IndexedDeltas, !src.indexOnly)
			}
			for _, mode := range []repo.Mode{repo.ModeBareUser, repo.ModeArchive} {
				t.Run(mode.String(), func(t *testing.T) {
					testFlatpakDeltaPull(t, fs, mode, src.indexOnly)
				})
			}
		})
	}
}

func testFlatpakDeltaPull(t *testing.T, fs *repotest.FlatpakDeltaSource, mode repo.Mode, indexOnly bool) {
	// The server first serves the repository as it was at From, then as
	// it is.
	var root atomic.Pointer[string]
	root.Store(&fs.First)
	var mu sync.Mutex
	var log []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		log = append(log, req.URL.Path)
		mu.Unlock()
		http.FileServer(http.Dir(*root.Load())).ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		l := log
		log = nil
		return l
	}

	ctx := context.Background()
	r := newClient(t, mode, srv.URL)
	var fallbacks []error
	o := Options{Remote: "origin", Refs: []string{fs.Ref}, DeltaFallback: func(err error) { fallbacks = append(fallbacks, err) }}
	// flatpak makes its deltas with min-fallback-size 1 (MB): the big
	// file is a fallback object of the scratch delta, fetched on its own,
	// and a bspatch from its old version in the update.
	bigFrom, bigTo := objectOf(t, fs, fs.From, fs.Big), objectOf(t, fs, fs.To, fs.Big)
	for _, step := range []struct {
		name, delta, commit string
		serve               *string
		objects             []string // the objects fetched on their own
	}{
		{"first", fs.From, fs.From, &fs.First, []string{bigFrom}},
		{"update", fs.From + "-" + fs.To, fs.To, &fs.Repo, nil},
	} {
		root.Store(step.serve)
		res, err := Pull(ctx, r, o)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got := take()
		if len(res.Deltas) != 1 || res.Deltas[0].Name != step.delta || res.Deltas[0].FallbacksNeeded != len(step.objects) || len(fallbacks) > 0 {
			t.Fatalf("%s: deltas %+v, fallbacks %v; want %s with %d fallback objects", step.name, res.Deltas, fallbacks, step.delta, len(step.objects))
		}
		dn, _ := delta.ParseName(step.delta)
		if !slices.Contains(got, "/"+dn.SuperblockPath()) || count(got, isSuperblock) != 1 || count(got, isPart) == 0 {
			t.Errorf("%s: requests %q; want the superblock of %s and its parts", step.name, got, step.delta)
		}
		// Apart from the commit's detached metadata, which ostree
		// fetches too, objects come from the delta's parts but for its
		// fallbacks; the big file's new version is in a part.
		var objects []string
		for _, p := range got {
			if strings.HasPrefix(p, "/objects/") && !strings.HasSuffix(p, ".commitmeta") {
				objects = append(objects, p)
			}
		}
		if len(objects) != len(step.objects) || (len(objects) > 0 && !strings.Contains(strings.ReplaceAll(objects[0], "/", ""), step.objects[0]+".filez")) {
			t.Errorf("%s: fetched objects %q; want %q (.filez)", step.name, objects, step.objects)
		}
		if slices.ContainsFunc(got, func(p string) bool { return strings.Contains(strings.ReplaceAll(p, "/", ""), bigTo) }) {
			t.Errorf("%s: requests %q; the big file's new version %s was fetched on its own", step.name, got, bigTo)
		}
		if indexOnly && !slices.Contains(got, "/"+delta.IndexPath(mustParse(t, step.commit))) {
			t.Errorf("%s: requests %q; want the delta index of %s", step.name, got, step.commit)
		}
		checkFlatpakPull(t, fs, r, step.commit)
	}
}

// objectOf returns the content object of path in commit.
func objectOf(t *testing.T, fs *repotest.FlatpakDeltaSource, commit, path string) string {
	t.Helper()
	f := strings.Fields(repotest.Ostree(t, "--repo="+fs.Repo, "ls", "-C", commit, "/"+path))
	if len(f) < 6 {
		t.Fatalf("ostree ls -C %s /%s: %q", commit, path, f)
	}
	return f[4]
}

// checkFlatpakPull checks the client's ref against commit in the source:
// the listing, a checkout, and fsck.
func checkFlatpakPull(t *testing.T, fs *repotest.FlatpakDeltaSource, r *repo.Repo, commit string) {
	t.Helper()
	if c, err := r.ReadRef("origin", fs.Ref); err != nil || c.String() != commit {
		t.Fatalf("origin:%s = %v %v, want %s", fs.Ref, c, err, commit)
	}
	want := repotest.Ostree(t, "--repo="+fs.Repo, "ls", "-R", "-C", commit)
	if got := repotest.Ostree(t, "--repo="+r.Path(), "ls", "-R", "-C", "origin:"+fs.Ref); got != want {
		t.Errorf("ls -R differs from the source:\n%s\nwant\n%s", got, want)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
	dir := t.TempDir()
	repotest.Ostree(t, "--repo="+fs.Repo, "checkout", "-U", commit, dir+"/want")
	repotest.Ostree(t, "--repo="+r.Path(), "checkout", "-U", "origin:"+fs.Ref, dir+"/got")
	wantTree, gotTree := treeOf(t, dir+"/want"), treeOf(t, dir+"/got")
	if !maps.Equal(gotTree, wantTree) {
		t.Errorf("checkout differs from the source's:\n%v\nwant\n%v", gotTree, wantTree)
	}
	if _, ok := gotTree[fs.Big]; !ok {
		t.Errorf("checkout lacks %s", fs.Big)
	}
}

// treeOf describes each entry under root: type, permissions, and the
// SHA-256 of a file's content or a symlink's target.
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		m[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
