package pull

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
)

// TestPullSignedSummaryIndex: a Flatpak repository whose commits,
// summary and summary index the real flatpak tools signed with gpg
// (build-export and build-update-repo --gpg-sign), its plain summary
// listing only x86_64 refs. A remote with gpg-verify-summary=true pulls
// the aarch64 app, found only through summary.idx, after checking the
// index against its signature; an altered index or subsummary, a missing
// signature or one by an untrusted key fails the pull with an error
// naming the URL and what to do, and leaves objects, refs and the
// summary cache untouched.
func TestPullSignedSummaryIndex(t *testing.T) {
	repotest.RequireGPG(t)
	fr := repotest.NewFlatpakRepo(t, "x86_64")
	fr.Sign = repotest.NewGPGKey(t, "Flatpak Publisher")
	const id = "org.test.Signed"
	arm := repotest.AppRef(id, "aarch64", "stable")
	fr.Export(t, id, "x86_64", "stable", "hello x86_64\n")
	armCommit := fr.Export(t, id, "aarch64", "stable", "hello aarch64\n")
	fr.UpdateRepo(t)
	if s, err := repo.DecodeSummary(repotest.ReadFile(t, filepath.Join(fr.Path, "summary"))); err != nil || slices.ContainsFunc(s.Refs, func(r repo.SummaryRef) bool { return r.Name == arm }) {
		t.Fatalf("the plain summary lists %s (or is unreadable: %v): the test needs it absent", arm, err)
	}
	index := repotest.ReadFile(t, filepath.Join(fr.Path, "summary.idx"))
	digestSig := fmt.Sprintf("/summaries/%x.idx.sig", sha256.Sum256(index))
	// Flatpak signs the index twice, as summary.idx.sig and as a copy
	// named by the index's digest; the test relies on both.
	// Their copies are identical. A Last-Modified of this very second
	// is no validator: date the files back, so that the index is cached.
	for _, p := range []string{"/summary.idx.sig", digestSig} {
		if !slices.Equal(repotest.ReadFile(t, filepath.Join(fr.Path, p)), repotest.ReadFile(t, filepath.Join(fr.Path, "summary.idx.sig"))) {
			t.Fatalf("flatpak build-update-repo --gpg-sign wrote no %s, or one unlike summary.idx.sig", p)
		}
	}
	past := time.Now().Add(-time.Hour)
	for _, p := range []string{"summary", "summary.sig", "summary.idx", "summary.idx.sig", digestSig} {
		if err := os.Chtimes(filepath.Join(fr.Path, p), past, past); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := repo.DecodeSummaryIndex(index)
	if err != nil {
		t.Fatal(err)
	}
	armSub, x86Sub := "", ""
	for _, s := range ix.Subsummaries {
		switch s.Name {
		case "aarch64":
			armSub = "/summaries/" + s.Digest.String() + ".gz"
		case "x86_64":
			x86Sub = "/summaries/" + s.Digest.String() + ".gz"
		}
	}
	if armSub == "" || x86Sub == "" {
		t.Fatalf("summary.idx has no aarch64 subsummary: %+v", ix.Subsummaries)
	}

	// The same index signed by another publisher: a genuine signature,
	// by a key the client does not trust.
	other := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command("cp", "-a", fr.Path, other).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	otherKey := repotest.NewGPGKey(t, "Someone Else")
	repotest.Flatpak(t, "build-update-repo", "--no-update-appstream", "--gpg-sign="+otherKey.ID, "--gpg-homedir="+otherKey.Home, other)

	isIndexPath := func(p string) bool {
		return strings.HasPrefix(p, "/summary.idx") || strings.HasPrefix(p, "/summaries/")
	}
	tests := []struct {
		name string
		// serve answers a request itself and returns true, or returns
		// false to let the repository serve it.
		serve func(w http.ResponseWriter, req *http.Request) bool
		want  []string // in the error; none: the pull succeeds
	}{
		{name: "signed", serve: func(http.ResponseWriter, *http.Request) bool { return false }},
		{name: "only summary.idx.sig, as older flatpak writes", serve: func(w http.ResponseWriter, req *http.Request) bool {
			p := req.URL.Path
			if p == digestSig {
				http.NotFound(w, nil)
				return true
			}
			return false
		}},
		{name: "tampered summary.idx", serve: func(w http.ResponseWriter, req *http.Request) bool {
			p := req.URL.Path
			if p != "/summary.idx" {
				return false
			}
			bad := slices.Clone(index)
			bad[len(bad)/2] ^= 0x20
			w.Write(bad)
			return true
		}, want: []string{"/summary.idx", "/summary.idx.sig", "BAD signature", "gpg-verify-summary=false"}},
		{name: "no signature", serve: func(w http.ResponseWriter, req *http.Request) bool {
			p := req.URL.Path
			if strings.HasSuffix(p, ".idx.sig") {
				http.NotFound(w, nil)
				return true
			}
			return false
		}, want: []string{digestSig, "/summary.idx.sig", "no signature", "gpg-verify-summary=false"}},
		{name: "signed by an untrusted key", serve: func(w http.ResponseWriter, req *http.Request) bool {
			p := req.URL.Path
			if !isIndexPath(p) {
				return false
			}
			http.ServeFile(w, req, filepath.Join(other, p))
			return true
		}, want: []string{"/summary.idx", "gpg-import"}},
		{name: "missing subsummary", serve: func(w http.ResponseWriter, req *http.Request) bool {
			if req.URL.Path != armSub {
				return false
			}
			http.NotFound(w, req)
			return true
		}, want: []string{armSub, "not on the server"}},
		{name: "tampered subsummary", serve: func(w http.ResponseWriter, req *http.Request) bool {
			p := req.URL.Path
			if p != armSub {
				return false
			}
			// A genuine subsummary, not the one the index names.
			w.Write(repotest.ReadFile(t, filepath.Join(fr.Path, x86Sub)))
			return true
		}, want: []string{armSub, "digest"}},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var paths []string
			fs := http.FileServer(http.Dir(fr.Path))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				mu.Lock()
				paths = append(paths, req.URL.Path)
				mu.Unlock()
				if !tc.serve(w, req) {
					fs.ServeHTTP(w, req)
				}
			}))
			defer srv.Close()
			r := signedClient(t, srv.URL, repo.ConfigKey{Key: "gpg-verify-summary", Value: "true"})
			if _, err := ImportKeys(ctx, r, "origin", repotest.ReadFile(t, fr.Sign.Public), nil); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, r)
			_, err := Pull(ctx, r, Options{Remote: "origin", Refs: []string{arm}})
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got, err := r.ReadRef("origin", arm); err != nil || got.String() != armCommit {
					t.Errorf("origin:%s = %s (%v), want %s", arm, got, err, armCommit)
				}
				mu.Lock()
				paths := slices.Clone(paths)
				mu.Unlock()
				if !slices.Contains(paths, "/summary.idx") || !slices.Contains(paths, armSub) {
					t.Errorf("requests %v: want summary.idx and %s", paths, armSub)
				}
				if rep, err := r.Fsck(ctx, repo.FsckOptions{}); err != nil || len(rep.Problems) > 0 {
					t.Errorf("fsck: %v %+v", err, rep)
				}
				// The verified index is cached with its signature, and
				// checked again when the server says it has not changed.
				cache := filepath.Join(r.Path(), "tmp", "cache", "summaries")
				for file, want := range map[string]string{"origin.idx": "summary.idx", "origin.idx.sig": "summary.idx.sig"} {
					if got, err := os.ReadFile(filepath.Join(cache, file)); err != nil || !slices.Equal(got, repotest.ReadFile(t, filepath.Join(fr.Path, want))) {
						t.Errorf("cached %s: %d bytes (%v), want the server's %s", file, len(got), err, want)
					}
				}
				if _, err := Pull(ctx, r, Options{Remote: "origin", Refs: []string{arm}}); err != nil {
					t.Errorf("pull with the index cached: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("the pull succeeded; want an error naming %q", tc.want)
			}
			t.Log(err)
			if !errors.Is(err, ErrVerification) && !strings.Contains(tc.name, "subsummary") {
				t.Errorf("error does not match ErrVerification: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if after := snapshot(t, r); after != before {
				t.Errorf("a failed pull changed objects or refs:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if strings.Contains(tc.name, "subsummary") {
				return // its index was genuine, and may be cached
			}
			for _, name := range []string{"origin.idx", "origin.idx.sig"} {
				if _, err := os.Stat(filepath.Join(r.Path(), "tmp", "cache", "summaries", name)); err == nil {
					t.Errorf("%s was cached after a failed check", name)
				}
			}
		})
	}
}
