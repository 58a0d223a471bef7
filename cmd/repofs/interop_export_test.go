package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

func TestInteropExport(t *testing.T) {
	repotest.RequireOstree(t)
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("SKIP: GNU tar not found")
	}
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := cliFixture(t, mode)
			cases := []cliCase{
				{"export", "test/cli"},
				{"export", f.Main + "^"},
				{"export", "--subpath=/xdir", "test/cli"},
				{"export", "--subpath=deep/a", "--prefix=p/", "test/cli"},
				{"export", "--prefix=pre", "test/cli"},
				{"export", "--prefix=a/very/" + strings.Repeat("long", 25) + "/", "test/cli"},
				{"export", "--no-xattrs", "test/cli"},
				{"export"},
				{"export", "nope"},
				{"export", "--subpath=/nope", "test/cli"},
			}
			for _, args := range cases {
				sameCLI(t, f.Repo, args...)
			}
			// To a file: no padding to a record.
			dir := t.TempDir()
			a, b := filepath.Join(dir, "ostree.tar"), filepath.Join(dir, "repofs.tar")
			repotest.Ostree(t, "--repo="+f.Repo, "export", "-o", a, "test/cli")
			if _, errs, code := repofs(t, "--repo="+f.Repo, "export", "--output="+b, "test/cli"); code != 0 {
				t.Fatalf("repofs export: %s", errs)
			}
			ta, _ := os.ReadFile(a)
			tb, _ := os.ReadFile(b)
			if !bytes.Equal(ta, tb) {
				t.Errorf("export -o: %d bytes, ostree wrote %d", len(tb), len(ta))
			}
			sameExtraction(t, a, b)
			sameCLI(t, f.Repo, "export", "-o", filepath.Join(dir, "no/such/dir"), "test/cli")
		})
	}
}

// sameExtraction extracts both archives with GNU tar --xattrs and compares
// the trees: names, kinds, modes, owners, sizes, symlink targets, content
// and xattrs.
func sameExtraction(t *testing.T, a, b string) {
	t.Helper()
	var lists [2]string
	for i, ar := range []string{a, b} {
		d := filepath.Join(t.TempDir(), "x")
		os.Mkdir(d, 0o755)
		if out, err := exec.Command("tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", ar, "-C", d).CombinedOutput(); err != nil {
			t.Fatalf("tar -x %s: %v: %s", ar, err, out)
		}
		cmd := exec.Command("sh", "-c", `find . -printf '%p %y %m %U %G %s %l\n' | sort && find . -type f -exec sha256sum {} + | sort && getfattr -R -d -m - . 2>/dev/null | sort`)
		cmd.Dir = d
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "./hello.txt f 644 0 0 13") {
			t.Fatalf("extraction of %s lacks hello.txt:\n%s", ar, clip(string(out)))
		}
		lists[i] = string(out)
	}
	if lists[0] != lists[1] {
		t.Errorf("extractions differ:\n--- ostree\n%s\n--- repofs\n%s", clip(lists[0]), clip(lists[1]))
	}
}
