package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// TestRemoteMirrorlistLikeOstree: remotes whose url is mirrorlist=URL or
// that have a contenturl are added and shown as ostree does (the url key
// as written), and a remote without url fails show-url and list -u with
// ostree's error.
func TestRemoteMirrorlistLikeOstree(t *testing.T) {
	repotest.RequireOstree(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "ostree"), filepath.Join(dir, "repofs")
	repotest.Init(t, a, "archive")
	repotest.Init(t, b, "archive")
	steps := [][]string{
		{"remote", "add", "--no-gpg-verify", "fleet", "mirrorlist=https://example.com/mirrors.txt"},
		{"remote", "add", "--no-gpg-verify", "--set=contenturl=mirrorlist=http://cdn.example.com/list", "cdn", "https://example.com/repo"},
		{"remote", "add", "--no-gpg-verify", "--set=contenturl=http://cdn.example.com/repo", "a-long-remote-name", "http://example.com/x"},
	}
	for _, s := range steps {
		_, _, want := repotest.RunOstree(t, append([]string{"--repo=" + a}, s...)...)
		_, errs, got := repofs(t, append([]string{"--repo=" + b}, s...)...)
		if got != 0 || want != 0 {
			t.Fatalf("%s: exit %d, ostree %d (%s)", strings.Join(s, " "), got, want, errs)
		}
	}
	if ca, cb := readFile(t, filepath.Join(a, "config")), readFile(t, filepath.Join(b, "config")); ca != cb {
		t.Fatalf("config differs\n--- ostree\n%s--- repofs\n%s", ca, cb)
	}
	for _, r := range []string{a, b} {
		sameAsOstree(t, r, "remote", "list", "-u")
		for _, name := range []string{"fleet", "cdn", "a-long-remote-name"} {
			sameAsOstree(t, r, "remote", "show-url", name)
		}
	}
	// A remote without url.
	for _, r := range []string{a, b} {
		f, err := os.OpenFile(filepath.Join(r, "config"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("\n[remote \"nourl\"]\ngpg-verify=false\n")
		f.Close()
		sameAsOstree(t, r, "remote", "show-url", "nourl")
		sameAsOstree(t, r, "remote", "list", "-u")
		sameAsOstree(t, r, "remote", "list")
	}
}
