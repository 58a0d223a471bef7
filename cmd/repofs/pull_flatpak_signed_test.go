package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
)

// TestPullSignedFlatpakIndexCLI: `repofs pull` of an aarch64 app found
// only through the summary index of a repository the real flatpak tools
// signed, from a remote added with the publisher's key and
// gpg-verify-summary=true; with summary.idx altered on the way, the pull
// exits non-zero naming the index's URL and the way out, and the client
// has no ref.
func TestPullSignedFlatpakIndexCLI(t *testing.T) {
	repotest.RequireGPG(t)
	fr := repotest.NewFlatpakRepo(t, "x86_64")
	fr.Sign = repotest.NewGPGKey(t, "CLI Publisher")
	const id = "org.test.Cli"
	arm := repotest.AppRef(id, "aarch64", "stable")
	fr.Export(t, id, "x86_64", "stable", "x86_64\n")
	want := fr.Export(t, id, "aarch64", "stable", "aarch64\n")
	fr.UpdateRepo(t)
	// Dated back: a Last-Modified of this very second is no validator.
	past := time.Now().Add(-time.Hour)
	for _, p := range []string{"summary", "summary.sig", "summary.idx", "summary.idx.sig"} {
		os.Chtimes(filepath.Join(fr.Path, p), past, past)
	}
	var tamper atomic.Bool
	fs := http.FileServer(http.Dir(fr.Path))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tamper.Load() && r.URL.Path == "/summary.idx" {
			b := slices.Clone(repotest.ReadFile(t, filepath.Join(fr.Path, "summary.idx")))
			b[len(b)/3] ^= 1
			w.Write(b)
			return
		}
		fs.ServeHTTP(w, r)
	}))
	defer srv.Close()

	client := func() string {
		c := filepath.Join(t.TempDir(), "client")
		repotest.Init(t, c, "bare-user")
		if _, errs, code := repofs(t, "--repo="+c, "remote", "add", "--gpg-import="+fr.Sign.Public, "--set=gpg-verify-summary=true", "origin", srv.URL); code != 0 {
			t.Fatalf("remote add: exit %d: %s", code, errs)
		}
		return c
	}
	good := client()
	if _, errs, code := repofs(t, "--repo="+good, "pull", "origin", arm); code != 0 {
		t.Fatalf("pull of %s: exit %d: %s", arm, code, errs)
	}
	if out, _, _ := repofs(t, "--repo="+good, "rev-parse", "origin:"+arm); strings.TrimSpace(out) != want {
		t.Errorf("origin:%s = %q, want %s", arm, out, want)
	}

	tamper.Store(true)
	bad := client()
	_, errs, code := repofs(t, "--repo="+bad, "pull", "origin", arm)
	if code == 0 {
		t.Fatal("the pull of a tampered summary.idx succeeded")
	}
	for _, w := range []string{srv.URL + "/summary.idx", "gpg-verify-summary=false"} {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errs)
		}
	}
	if out, _, _ := repofs(t, "--repo="+bad, "refs"); strings.TrimSpace(out) != "" {
		t.Errorf("refs after a failed pull: %q", out)
	}
	// The remote's ref listing checks the index too.
	if _, errs, code := repofs(t, "--repo="+bad, "remote", "refs", "origin"); code == 0 || !strings.Contains(errs, "/summary.idx") {
		t.Errorf("remote refs of a tampered index: exit %d: %s", code, errs)
	}
}
