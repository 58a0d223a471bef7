package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDeltaRatios measures, on the prune benchmark's history of the Go
// tree (an archive repository; T' changes 10 % of T's files):
// `static-delta generate --from=T --to=T'` of repofs against ostree's,
// and the update pull T→T' over loopback HTTP into a bare-user repository
// through the same deltas (repofs-generated, listed by repofs summary -u),
// `repofs pull` against `ostree pull`. Runs alternate; medians. Older
// repofs binaries in REPOFS_BENCH_OLD (colon-separated) add pull rows.
// REPOFS_BENCH_RT=1 runs every pull under SCHED_FIFO (chrt -f 50): on a
// machine shared with other work, that keeps its load off the pulls'
// wall times, alike for every tool (the HTTP server stays as it is).
// REPOFS_BENCH_ROUNDS sets how many rounds of pulls are timed (5);
// REPOFS_BENCH_DELTA_FS=shared keeps the clients on the machine's
// filesystem instead of one fresh filesystem each.
//
//	REPOFS_BENCH=1 [REPOFS_BENCH_OLD=/path/to/old/repofs] [REPOFS_BENCH_RT=1] [REPOFS_BENCH_ROUNDS=n] go test -run TestDeltaRatios -v ./integration/
func TestDeltaRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure static deltas against ostree")
	}
	if _, err := exec.LookPath("ostree"); err != nil {
		t.Skip("ostree is not installed; the delta benchmark compares against it")
	}
	hist := pruneHistory(t)
	src := filepath.Join(t.TempDir(), "src")
	if out, err := exec.Command("cp", "-a", hist, src).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	rev := func(r string) string {
		out := runCmd(t, nil, "ostree", "--repo="+src, "rev-parse", r)
		if out.code != 0 {
			t.Fatalf("rev-parse %s: %s", r, out.stderr)
		}
		return strings.TrimSpace(out.stdout)
	}
	from, to := rev(benchRef+"^"), rev(benchRef)
	const genRounds = 3
	fmt.Printf("workload: static deltas of the Go tree's history, T→T' (10%% of files changed); medians of alternating runs (generate: %d)\n", genRounds)
	printRatioHeader()
	var gen [2][]result
	for i := range genRounds {
		for j := range 2 {
			k := (i + j) % 2
			os.RemoveAll(filepath.Join(src, "deltas"))
			exec.Command("sync").Run()
			res := runCmd(t, nil, tools()[k].bin, "--repo="+src, "static-delta", "generate", "--from="+from, "--to="+to)
			if res.code != 0 {
				t.Fatalf("%s static-delta generate: exit %d\n%s", tools()[k].name, res.code, res.stderr)
			}
			gen[k] = append(gen[k], res)
		}
	}
	printRatioRow("Delta generate T→T'", gen)
	// What each delta weighs: ostree's, generated once more, then
	// repofs's, the one both pulls use.
	os.RemoveAll(filepath.Join(src, "deltas"))
	if res := runCmd(t, nil, "ostree", "--repo="+src, "static-delta", "generate", "--from="+from, "--to="+to); res.code != 0 {
		t.Fatalf("ostree generate: %s", res.stderr)
	}
	for _, l := range strings.Split(runCmd(t, nil, "ostree", "--repo="+src, "static-delta", "show", from+"-"+to).stdout, "\n") {
		if strings.HasPrefix(l, "Total Size") || strings.HasPrefix(l, "Number of parts") {
			fmt.Println("  ostree's delta:", l)
		}
	}
	os.RemoveAll(filepath.Join(src, "deltas"))
	for _, args := range [][]string{{"--from=" + from, "--to=" + to}} {
		if res := runCmd(t, nil, repofsBin, append([]string{"--repo=" + src, "static-delta", "generate"}, args...)...); res.code != 0 {
			t.Fatalf("generate: %s", res.stderr)
		}
	}
	if res := runCmd(t, nil, repofsBin, "--repo="+src, "summary", "-u"); res.code != 0 {
		t.Fatalf("summary -u: %s", res.stderr)
	}
	show := runCmd(t, nil, repofsBin, "--repo="+src, "static-delta", "show", from+"-"+to).stdout
	for _, l := range strings.Split(show, "\n") {
		if strings.HasPrefix(l, "Total Size") || strings.HasPrefix(l, "Number of parts") {
			fmt.Println("  repofs's delta:", l)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer srv.Close()
	base := filepath.Join(t.TempDir(), "base")
	ost := func(args ...string) {
		t.Helper()
		if res := runCmd(t, nil, "ostree", args...); res.code != 0 {
			t.Fatalf("ostree %s: %s", strings.Join(args, " "), res.stderr)
		}
	}
	ost("init", "--repo="+base, "--mode=bare-user")
	ost("--repo="+base, "remote", "add", "--no-gpg-verify", "origin", srv.URL)
	ost("--repo="+base, "pull-local", "--remote=origin", src, from)
	ost("--repo="+base, "refs", "--create=origin:"+benchRef, from)
	ts := toolsWithOld()
	pulls := make([][]result, len(ts))
	rt := os.Getenv("REPOFS_BENCH_RT") == "1"
	if rt {
		if err := exec.Command("chrt", "-f", "50", "true").Run(); err != nil {
			t.Fatalf("REPOFS_BENCH_RT=1 but chrt -f 50 fails (needs root or CAP_SYS_NICE): %v", err)
		}
		fmt.Println("  pulls run under SCHED_FIFO (chrt -f 50)")
	}
	// Each pull gets a filesystem of its own (benchArea), fresh, with
	// only its client on it: commit's syncfs then writes back what the
	// pull wrote, not what other processes left dirty on a shared one,
	// and ext4's skipping of recently freed inodes (see benchArea) has
	// nothing to skip. Emptied and trimmed after its pull, so the images
	// hold one client at a time. A first untimed pull of each tool warms
	// the page cache (binaries, the served repository).
	pull := func(k int, client string) result {
		t.Helper()
		if out, err := exec.Command("cp", "-a", base, client).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
		exec.Command("sync").Run()
		cmd := []string{ts[k].bin, "--repo=" + client, "pull", "origin", benchRef}
		if rt {
			cmd = append([]string{"chrt", "-f", "50"}, cmd...)
		}
		res := runCmd(t, nil, cmd[0], cmd[1:]...)
		if res.code != 0 {
			t.Fatalf("%s pull: exit %d\n%s", ts[k].name, res.code, res.stderr)
		}
		return res
	}
	drop := func(client string) {
		os.RemoveAll(client)
		exec.Command("fstrim", filepath.Dir(client)).Run()
	}
	// REPOFS_BENCH_DELTA_FS=shared puts the clients on the machine's
	// filesystem instead, as this benchmark did first.
	area := func() string { return benchArea(t) }
	if os.Getenv("REPOFS_BENCH_DELTA_FS") == "shared" {
		area = func() string { return t.TempDir() }
		drop = func(string) {}
	}
	for k := range ts {
		client := filepath.Join(area(), "warm")
		pull(k, client)
		drop(client)
	}
	rounds := pullRounds(t)
	if os.Getenv("REPOFS_BENCH_DELTA_FS") == "shared" {
		fmt.Printf("  pulls: %d rounds on the machine's filesystem, after one warm-up pull each\n", rounds)
	} else {
		fmt.Printf("  pulls: %d rounds, each into a fresh filesystem, after one warm-up pull each\n", rounds)
	}
	for i := range rounds {
		for j := range ts {
			k := (i + j) % len(ts)
			client := filepath.Join(area(), "client")
			pulls[k] = append(pulls[k], pull(k, client))
			if i == 0 {
				if fsck := runCmd(t, nil, "ostree", "--repo="+client, "fsck"); fsck.code != 0 {
					t.Fatalf("fsck after %s pull: %s", ts[k].name, fsck.stderr)
				}
			}
			drop(client)
		}
	}
	// Each round's own ratios, in order: how often a target is met, not
	// only whether the medians meet it.
	for k := 1; k < len(ts); k++ {
		fmt.Printf("  %s/ostree per round:", ts[k].name)
		for i := range rounds {
			fmt.Printf(" %.2f", float64(pulls[k][i].wall)/float64(pulls[0][i].wall))
		}
		fmt.Println()
	}
	printRatioRows("Delta pull T→T'/bare-user", ts, pulls)
}

// pullRounds is REPOFS_BENCH_ROUNDS, or 5: how many rounds of pulls
// TestDeltaRatios times.
func pullRounds(t *testing.T) int {
	v := os.Getenv("REPOFS_BENCH_ROUNDS")
	if v == "" {
		return 5
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("REPOFS_BENCH_ROUNDS=%q: want a positive count", v)
	}
	return n
}
