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
// print the same. REPOFS_BENCH_OLD may name older repofs binaries
// (colon-separated) to add their rows, alternated with the others. A last
// row times cp -a of the commit's tree, checked out, and a syncfs: the
// floor set by creating and writing the same files.
//
// The measurement keeps deletions out of the timed region: on ext4, inode
// allocation right after a mass deletion walks the inode bitmap past
// every recently deleted inode (find_inode_bit, recently_deleted), which
// made whichever tool ran after the previous run's rm -rf the slower one.
// So every destination repository, one per run, is created before the
// first run, and all are removed only after the last; each run starts
// after a sync, so that no run pays for the previous one's writeback. All
// of it lives on a filesystem of the benchmark's own (benchArea), so that
// no run pays either for what other processes, or the last invocation of
// this benchmark, deleted in the machine's /tmp. One
// untimed round warms the page cache with the source. The runs of a round
// rotate through the tools; medians of rounds are printed, CPU (user+sys)
// too, which a machine shared with other work disturbs less than wall
// time. Needs about 250 MB per run (REPOFS_BENCH_ROUNDS+1 per tool) in
// its sparse image under the temporary directory. REPOFS_BENCH_RT=1 runs every tool
// under SCHED_FIFO (chrt -f 50), as TestDeltaRatios does: on a machine
// shared with other work, that keeps its load off the runs, alike for
// every tool (the kernel's writeback threads stay as they are).
//
//	REPOFS_BENCH=1 [REPOFS_BENCH_ROUNDS=5] [REPOFS_BENCH_OLD=/path/to/old/repofs] [REPOFS_BENCH_RT=1] go test -run TestPullLocalRatios -v ./integration/
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
	dir := benchArea(t)
	src := filepath.Join(dir, "src")
	for _, args := range [][]string{
		{"--repo=" + src, "init", "--mode=archive"},
		{"--repo=" + src, "commit", "-b", "main", "--no-xattrs", tree},
	} {
		if res := runCmd(t, nil, "ostree", args...); res.code != 0 {
			t.Fatalf("ostree %v: %s", args, res.stderr)
		}
	}
	rounds := 5
	if n, err := fmt.Sscan(os.Getenv("REPOFS_BENCH_ROUNDS"), &rounds); n != 1 || err != nil || rounds < 1 {
		rounds = 5
	}
	// The floor: cp -a of the tree the commit holds, checked out once,
	// then a syncfs, as both pull-locals end: the same files created and
	// made durable, without inflating, hashing or xattrs — the kernel's
	// share of the work, which no pull-local into bare-user avoids.
	checkout := filepath.Join(dir, "checkout")
	if res := runCmd(t, nil, "ostree", "--repo="+src, "checkout", "-U", "--disable-cache", "main", checkout); res.code != 0 {
		t.Fatal(res.stderr)
	}
	type tool struct {
		name string
		cmd  func(dst string) (string, []string)
	}
	pullLocal := func(bin string) func(string) (string, []string) {
		return func(dst string) (string, []string) {
			return bin, []string{"--repo=" + dst, "pull-local", src, "main"}
		}
	}
	ts := []tool{{"ostree", pullLocal("ostree")}, {"repofs", pullLocal(repofsBin)}}
	if old := os.Getenv("REPOFS_BENCH_OLD"); old != "" {
		for i, b := range filepath.SplitList(old) {
			ts = append(ts, tool{fmt.Sprintf("repofs(old#%d)", i), pullLocal(b)})
		}
	}
	ts = append(ts, tool{"cp -a;sync -f (floor)", func(dst string) (string, []string) {
		return "sh", []string{"-c", `cp -a "$1" "$2" && sync -f "$2"`, "sh", checkout, filepath.Join(dst, "copy")}
	}})
	// Every destination, made up front: round -1 is the untimed one.
	dst := func(round, k int) string { return filepath.Join(dir, fmt.Sprintf("dst-%d-%d", round+1, k)) }
	for i := -1; i < rounds; i++ {
		for k := range ts {
			if res := runCmd(t, nil, "ostree", "--repo="+dst(i, k), "init", "--mode=bare-user"); res.code != 0 {
				t.Fatal(res.stderr)
			}
		}
	}
	rt := os.Getenv("REPOFS_BENCH_RT") == "1"
	if rt {
		if err := exec.Command("chrt", "-f", "50", "true").Run(); err != nil {
			t.Fatalf("REPOFS_BENCH_RT=1 but chrt -f 50 fails (needs root or CAP_SYS_NICE): %v", err)
		}
	}
	fmt.Printf("workload: pull-local archive -> bare-user of %s; median of %d rotating rounds after an untimed one; fresh destinations made before timing, none deleted until the end\n", name, rounds)
	if rt {
		fmt.Println("  runs under SCHED_FIFO (chrt -f 50)")
	}
	printRatioHeader()
	runs := make([][]result, len(ts))
	outs := make([]string, len(ts))
	for i := -1; i < rounds; i++ {
		for j := range ts {
			k := (i + 1 + j) % len(ts)
			exec.Command("sync").Run()
			bin, args := ts[k].cmd(dst(i, k))
			if rt {
				bin, args = "chrt", append([]string{"-f", "50", bin}, args...)
			}
			res := runCmd(t, nil, bin, args...)
			if res.code != 0 {
				t.Fatalf("%s pull-local: exit %d\n%s", ts[k].name, res.code, res.stderr)
			}
			if i >= 0 {
				runs[k] = append(runs[k], res)
			}
			outs[k] = res.stdout
		}
	}
	for k := 1; k < len(ts); k++ {
		if outs[0] != outs[k] && k < len(ts)-1 {
			t.Errorf("ostree and %s differ:\n--- ostree\n%s--- %s\n%s", ts[k].name, outs[0], ts[k].name, outs[k])
		}
		printRatioRow("pull-local>bare-user "+ts[k].name, [2][]result{runs[0], runs[k]})
	}
}
