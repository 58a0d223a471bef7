package integration

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPruneRatios measures `repofs prune --refs-only --depth=0` against
// `ostree prune --refs-only --depth=0` on identical copies of an archive
// repository holding 20 commits of the Go tree, 10 % of the files changed
// in each; both must print the same and leave the same objects.
//
//	REPOFS_BENCH=1 go test -run TestPruneRatios -v ./integration/
func TestPruneRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure prune against ostree")
	}
	if _, err := exec.LookPath("ostree"); err != nil {
		t.Skip("ostree is not installed; the prune benchmark compares against it")
	}
	hist := pruneHistory(t)
	const rounds = 3
	fmt.Printf("workload: prune --refs-only --depth=0 of 20 commits of the Go tree (10%% changed each); median of %d alternating runs\n", rounds)
	printRatioHeader()
	var runs [2][]result
	var outs [2]string
	for i := range rounds {
		for j := range 2 {
			k := (i + j) % 2
			tool := tools()[k]
			copyPath := filepath.Join(t.TempDir(), "repo")
			if out, err := exec.Command("cp", "-a", hist, copyPath).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			exec.Command("sync").Run()
			res := runCmd(t, nil, tool.bin, "--repo="+copyPath, "prune", "--refs-only", "--depth=0")
			if res.code != 0 {
				t.Fatalf("%s prune: exit %d\n%s", tool.name, res.code, res.stderr)
			}
			runs[k] = append(runs[k], res)
			outs[k] = res.stdout + countFiles(t, filepath.Join(copyPath, "objects"))
			os.RemoveAll(copyPath)
		}
	}
	if outs[0] != outs[1] {
		t.Errorf("ostree and repofs differ:\n--- ostree\n%s--- repofs\n%s", outs[0], outs[1])
	}
	printRatioRow("Prune --refs-only/archive", runs)
}

func countFiles(t *testing.T, dir string) string {
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return fmt.Sprintf("%d files left\n", n)
}

// pruneHistory builds (once, cached under os.TempDir()) an archive
// repository with 20 commits of a copy of the Go tree, each changing a
// different 10 % of its regular files.
func pruneHistory(t *testing.T) string {
	treeName, goroot, err := benchTree()
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(os.TempDir(), "repofs-bench-prune-"+treeName)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	p := filepath.Join(cache, "repo")
	if _, err := os.Stat(filepath.Join(p, "refs", "heads", benchRef)); err == nil {
		return p
	}
	tmp, tree := p+".tmp", filepath.Join(cache, "tree")
	os.RemoveAll(tmp)
	os.RemoveAll(tree)
	if out, err := exec.Command("cp", "-a", goroot, tree).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	exec.Command("chmod", "-R", "u+w", tree).Run()
	var files []string
	filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	ost := func(args ...string) {
		if out, err := exec.Command("ostree", args...).CombinedOutput(); err != nil {
			t.Fatalf("ostree %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ost("init", "--repo="+tmp, "--mode=archive")
	for c := range 20 {
		if c > 0 {
			for i, f := range files {
				if i%10 == c%10 {
					fh, err := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					fmt.Fprintf(fh, "\n// commit %d\n", c)
					fh.Close()
				}
			}
		}
		ost("commit", "--repo="+tmp, "-b", benchRef, "-s", fmt.Sprintf("commit %d", c), "--tree=dir="+tree)
	}
	os.RemoveAll(tree)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}
