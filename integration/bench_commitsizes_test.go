package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestCommitSizesRatios measures `repofs commit --generate-sizes` against
// `ostree commit --generate-sizes` of the Go distribution into fresh
// archive repositories (zlib's stream for every file, see
// internal/zdeflate), and requires the very same commit from both.
//
//	REPOFS_BENCH=1 go test -run TestCommitSizesRatios -v ./integration/
func TestCommitSizesRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure commit --generate-sizes against ostree")
	}
	if _, err := exec.LookPath("ostree"); err != nil {
		t.Skip("ostree is not installed; the benchmark compares against it")
	}
	_, goroot, err := benchTree()
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 3
	fmt.Printf("workload: commit --generate-sizes of %s into a fresh archive repository; median of %d alternating runs\n", goroot, rounds)
	printRatioHeader()
	var runs [2][]result
	var commits [2]string
	for i := range rounds {
		for j := range 2 {
			k := (i + j) % 2
			tool := tools()[k]
			p := filepath.Join(t.TempDir(), "repo")
			if r := runCmd(t, nil, tool.bin, "--repo="+p, "init", "--mode=archive"); r.code != 0 {
				t.Fatalf("%s init: %s", tool.name, r.stderr)
			}
			syscall.Sync()
			res := runCmd(t, nil, tool.bin, "--repo="+p, "commit", "-b", benchRef, "-s", "Go distribution",
				"--generate-sizes", "--timestamp=2024-01-01T00:00:00Z", "--tree=dir="+goroot)
			if res.code != 0 {
				t.Fatalf("%s commit: exit %d\n%s", tool.name, res.code, res.stderr)
			}
			runs[k] = append(runs[k], res)
			commits[k] = res.stdout
		}
	}
	if commits[0] != commits[1] {
		t.Errorf("commit --generate-sizes: ostree %q, repofs %q", commits[0], commits[1])
	}
	printRatioRow("CommitSizes/archive", runs)
}
