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
// print the same. Set REPOFS_BENCH_OLD to an older repofs binary to add
// its row, alternated with the others.
//
//	REPOFS_BENCH=1 [REPOFS_BENCH_OLD=/path/to/old/repofs] go test -run TestPullLocalRatios -v ./integration/
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
	type tool struct{ name, bin string }
	ts := []tool{{"ostree", "ostree"}, {"repofs", repofsBin}}
	if old := os.Getenv("REPOFS_BENCH_OLD"); old != "" {
		ts = append(ts, tool{"repofs(old)", old})
	}
	fmt.Printf("workload: pull-local archive -> bare-user of %s; median of %d alternating runs\n", name, rounds)
	printRatioHeader()
	runs := make([][]result, len(ts))
	outs := make([]string, len(ts))
	for i := range rounds {
		for j := range ts {
			k := (i + j) % len(ts)
			dst := filepath.Join(t.TempDir(), "dst")
			if res := runCmd(t, nil, "ostree", "--repo="+dst, "init", "--mode=bare-user"); res.code != 0 {
				t.Fatal(res.stderr)
			}
			exec.Command("sync").Run()
			res := runCmd(t, nil, ts[k].bin, "--repo="+dst, "pull-local", src, "main")
			if res.code != 0 {
				t.Fatalf("%s pull-local: exit %d\n%s", ts[k].name, res.code, res.stderr)
			}
			runs[k] = append(runs[k], res)
			outs[k] = res.stdout
			os.RemoveAll(dst)
		}
	}
	for k := 1; k < len(ts); k++ {
		if outs[0] != outs[k] {
			t.Errorf("ostree and %s differ:\n--- ostree\n%s--- %s\n%s", ts[k].name, outs[0], ts[k].name, outs[k])
		}
		printRatioRow("pull-local>bare-user "+ts[k].name, [2][]result{runs[0], runs[k]})
	}
}
