package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestPullLocalRatios measures `repofs pull-local` from an archive
// repository into a bare-user one against `ostree pull-local`: every
// object is inflated and rewritten, none can be hardlinked. Both must
// print the same.
//
//	REPOFS_BENCH=1 go test -run TestPullLocalRatios -v ./integration/
func TestPullLocalRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure pull-local against ostree")
	}
	if _, err := exec.LookPath("ostree"); err != nil {
		t.Skip("ostree is not installed; the pull-local benchmark compares against it")
	}
	name, tree, err := benchTree()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	for _, args := range [][]string{
		{"--repo=" + src, "init", "--mode=archive"},
		{"--repo=" + src, "commit", "-b", "main", "--no-xattrs", tree},
	} {
		if res := runCmd(t, nil, "ostree", args...); res.code != 0 {
			t.Fatalf("ostree %v: %s", args, res.stderr)
		}
	}
	const rounds = 3
	fmt.Printf("workload: pull-local archive -> bare-user of %s; median of %d alternating runs\n", name, rounds)
	printRatioHeader()
	var runs [2][]result
	var outs [2]string
	for i := range rounds {
		for j := range 2 {
			k := (i + j) % 2
			tool := tools()[k]
			dst := filepath.Join(t.TempDir(), "dst")
			if res := runCmd(t, nil, "ostree", "--repo="+dst, "init", "--mode=bare-user"); res.code != 0 {
				t.Fatal(res.stderr)
			}
			exec.Command("sync").Run()
			res := runCmd(t, nil, tool.bin, "--repo="+dst, "pull-local", src, "main")
			if res.code != 0 {
				t.Fatalf("%s pull-local: exit %d\n%s", tool.name, res.code, res.stderr)
			}
			runs[k] = append(runs[k], res)
			outs[k] = res.stdout
			os.RemoveAll(dst)
		}
	}
	if outs[0] != outs[1] {
		t.Errorf("ostree and repofs differ:\n--- ostree\n%s--- repofs\n%s", outs[0], outs[1])
	}
	printRatioRow("pull-local archive>bare-user", runs)
}
