package integration

// The cost of verified reads on a bare-user mount:
//
//	REPOFS_BENCH=1 go test -run TestMountVerifyRatios -v ./integration/
//
// Reading every file of the tree through a fresh mount (cold page cache:
// every object is verified during this read) and again (warm: verified
// once, the kernel serves the pages; in pairs with native reads, back to
// back), with verification on and with --no-verify, against reading a
// native checkout, alternated round by round.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestMountVerifyRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure verified reads against native reads")
	}
	if _, err := exec.LookPath("ostree"); err != nil {
		t.Skip("ostree is not installed")
	}
	_, goroot, err := benchTree()
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 5
	p := filepath.Join(t.TempDir(), "repo")
	if r := runCmd(t, nil, "ostree", "--repo="+p, "init", "--mode=bare-user"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := runCmd(t, nil, "ostree", "--repo="+p, "commit", "-b", benchRef, "--tree=dir="+goroot); r.code != 0 {
		t.Fatal(r.stderr)
	}
	native := filepath.Join(t.TempDir(), "co")
	if r := runCmd(t, nil, "ostree", "--repo="+p, "checkout", "-U", "--force-copy", benchRef, native); r.code != 0 {
		t.Fatal(r.stderr)
	}
	mp := t.TempDir()
	const warmPairs = 3 // as in TestMountRatios: back to back, same host
	var nativeCold []time.Duration
	nativeWarm := map[string][]time.Duration{}
	cold := map[string]*measured{"verify": {}, "no-verify": {}}
	warm := map[string]*measured{"verify": {}, "no-verify": {}}
	for i := range rounds {
		dropCaches()
		nativeCold = append(nativeCold, timed(func() { readAll(t, native) }))
		order := []string{"verify", "no-verify"}
		if i%2 == 1 {
			order = []string{"no-verify", "verify"}
		}
		for _, v := range order {
			var extra []string
			if v == "no-verify" {
				extra = []string{"--no-verify"}
			}
			dropCaches()
			cmd, stderr := startMount(t, p, mp, "refs/heads/"+benchRef, extra...)
			tree, err := filepath.EvalSymlinks(filepath.Join(mp, "refs", "heads", benchRef))
			if err != nil {
				t.Fatal(err)
			}
			cold[v].timedOn(t, cmd, stderr, func() { readAll(t, tree) })
			readAll(t, native)
			for range warmPairs {
				nativeWarm[v] = append(nativeWarm[v], timed(func() { readAll(t, native) }))
				warm[v].timedOn(t, cmd, stderr, func() { readAll(t, tree) })
			}
			cmd.Process.Signal(syscall.SIGINT)
			if code := waitExit(t, cmd, 30*time.Second); code != 0 {
				t.Fatalf("mount exit %d", code)
			}
		}
	}
	fmt.Printf("workload: %s in a bare-user repository; median of %d alternated rounds\n", goroot, rounds)
	fmt.Printf("%-44s %10s %10s %6s %10s %9s\n", "case", "native", "repofs", "ratio", "mount CPU", "requests")
	row := func(name string, ref []time.Duration, ours *measured) {
		o, r := median(ref), median(ours.wall)
		fmt.Printf("%-44s %10v %10v %6.2f %10v %9d\n", name, o.Round(time.Millisecond), r.Round(time.Millisecond),
			float64(r)/float64(o), median(ours.cpu), medianInt(ours.reqs))
	}
	row("read all cold, fresh mount (verifies)", nativeCold, cold["verify"])
	row("read all cold, fresh mount --no-verify", nativeCold, cold["no-verify"])
	row("read all warm (verified)", nativeWarm["verify"], warm["verify"])
	row("read all warm --no-verify", nativeWarm["no-verify"], warm["no-verify"])
}
