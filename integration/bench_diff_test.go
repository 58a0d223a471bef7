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

// TestDiffRatios measures `repofs diff` against `ostree diff` of two
// commits of the Go tree, 500 of its files changed between them, in an
// archive and a bare repository; both must print the same lines.
//
//	REPOFS_BENCH=1 go test -run TestDiffRatios -v ./integration/
func TestDiffRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure diff against ostree")
	}
	if _, err := exec.LookPath("ostree"); err != nil {
		t.Skip("ostree is not installed; the diff benchmark compares against it")
	}
	const rounds = 5
	fmt.Printf("workload: diff of two commits of the Go tree, 500 files changed; median of %d alternating runs\n", rounds)
	printRatioHeader()
	for _, mode := range benchModes {
		p := diffHistory(t, mode)
		var runs [2][]result
		var outs [2]string
		for i := range rounds {
			for j := range 2 {
				k := (i + j) % 2
				tool := tools()[k]
				res := runCmd(t, nil, tool.bin, "--repo="+p, "diff", benchRef+"^", benchRef)
				if res.code != 0 {
					t.Fatalf("%s diff: exit %d\n%s", tool.name, res.code, res.stderr)
				}
				runs[k] = append(runs[k], res)
				outs[k] = res.stdout
			}
		}
		if outs[0] != outs[1] {
			t.Errorf("diff/%s: ostree and repofs differ:\n--- ostree\n%s--- repofs\n%s", mode, outs[0], outs[1])
		}
		if n := strings.Count(outs[0], "\n"); n < 500 {
			t.Errorf("diff/%s: %d lines, want at least the 500 changed files", mode, n)
		}
		printRatioRow("Diff/"+mode, runs)
	}
}

// diffHistory builds (once, cached under os.TempDir()) a repository of
// mode with two commits of a copy of the Go tree, the second with 500 of
// its regular files (spread over the tree) appended to.
func diffHistory(t *testing.T, mode string) string {
	treeName, goroot, err := benchTree()
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(os.TempDir(), "repofs-bench-diff-"+treeName)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	p := filepath.Join(cache, mode)
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
	ost("init", "--repo="+tmp, "--mode="+mode)
	ost("commit", "--repo="+tmp, "-b", benchRef, "-s", "before", "--tree=dir="+tree)
	step := max(1, len(files)/500)
	for i := 0; i < len(files) && i/step < 500; i += step {
		fh, err := os.OpenFile(files[i], os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(fh, "\n// changed\n")
		fh.Close()
	}
	ost("commit", "--repo="+tmp, "-b", benchRef, "-s", "after", "--tree=dir="+tree)
	os.RemoveAll(tree)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}
