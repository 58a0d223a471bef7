package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// messyConfig has what GLib's keyfile reader copes with: comments, blank
// lines, a group given twice, a key given twice, spaces around '=' and
// trailing spaces, escapes, a group name with dots.
const messyConfig = `# top comment
[core]
# comment in a group
repo_version=1
  mode = %s
  spaced = value  

[core]
x=1
x=2
esc=\sa\tb\\c\nd 

[remote "origin"]
url=http://example.com/repo


gpg-verify=false
[empty]
[b]
k=v
`

// copyRepoPair initialises a repository of mode with ostree, writes cfg as
// its config and returns two copies of it (one per tool).
func copyRepoPair(t *testing.T, mode, cfg string) (a, b string) {
	t.Helper()
	dir := t.TempDir()
	a, b = filepath.Join(dir, "a"), filepath.Join(dir, "b")
	repotest.Init(t, a, mode)
	if err := os.WriteFile(filepath.Join(a, "config"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", a, b).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return a, b
}

func TestInteropConfig(t *testing.T) {
	repotest.RequireOstree(t)
	gets := []cliCase{
		{"config", "get", "core.mode"},
		{"config", "get", "core.x"},
		{"config", "get", "core.spaced"},
		{"config", "get", "core.esc"},
		{"config", "get", "remote \"origin\".url"},
		{"config", "--group=remote \"origin\"", "get", "gpg-verify"},
		{"config", "get", "core.nope"},
		{"config", "get", "nope.nope"},
		{"config", "get", "b.k.z"},
		{"config", "get", "nodot"},
		{"config", "--group=core", "get"},
		{"config", "get"},
		{"config"},
		{"config", "frob", "x"},
		{"config", "get", "a", "b"},
		{"config", "set", "a", "b", "c"},
		{"config", "set", "a"},
		{"config", "--group=core", "set", "x"},
		{"config", "unset"},
	}
	edits := [][]string{
		{"config", "set", "core.x", "3"},
		{"config", "set", "core.new", " lead\ttab\nnl\\back trail "},
		{"config", "set", "new.group", "v"},
		{"config", "set", "core.lead", "\t\n \tx\ty\r"},
		{"config", "--group=remote \"origin\"", "set", "url", "http://other"},
		{"config", "set", "remote \"origin\".branches", "a;b;"},
		{"config", "unset", "core.esc"},
		{"config", "unset", "core.nope"},
		{"config", "unset", "nope.nope"},
		{"config", "--group=b", "unset", "k"},
		{"config", "set", "empty.k", "v"},
	}
	for _, mode := range []string{"archive", "bare-user"} {
		t.Run(mode, func(t *testing.T) {
			cfg := strings.ReplaceAll(messyConfig, "%s", mode)
			a, _ := copyRepoPair(t, mode, cfg)
			for _, c := range gets {
				sameCLI(t, a, c...)
			}
			// Each edit alone, then all of them in turn: the files must
			// stay identical, and each tool reads the other's.
			for _, ed := range edits {
				a, b := copyRepoPair(t, mode, cfg)
				sameEdit(t, a, b, ed)
			}
			a, b := copyRepoPair(t, mode, cfg)
			for _, ed := range edits {
				sameEdit(t, a, b, ed)
			}
			got := repotest.Ostree(t, "--repo="+b, "config", "get", "core.new")
			if want := " lead\ttab\nnl\\back trail \n"; got != want {
				t.Errorf("ostree reads repofs's value as %q, want %q", got, want)
			}
			sameCLI(t, b, "config", "get", "core.new")
		})
	}
}

// sameEdit runs ed with ostree on a and with repofs on b and requires the
// same result and the same config file afterwards.
func sameEdit(t *testing.T, a, b string, ed []string) {
	t.Helper()
	want, wantErr, wantCode := repotest.RunOstree(t, append([]string{"--repo=" + a}, ed...)...)
	got, gotErr, gotCode := repofs(t, append([]string{"--repo=" + b}, ed...)...)
	if got != want || gotCode != wantCode || errorLine(gotErr) != errorLine(wantErr) {
		t.Errorf("%q: repofs %q %d %q, ostree %q %d %q", ed, got, gotCode, gotErr, want, wantCode, wantErr)
	}
	ca, _ := os.ReadFile(filepath.Join(a, "config"))
	cb, _ := os.ReadFile(filepath.Join(b, "config"))
	if string(ca) != string(cb) {
		t.Errorf("after %q the configs differ\n--- ostree\n%s--- repofs\n%s", ed, ca, cb)
	}
}
