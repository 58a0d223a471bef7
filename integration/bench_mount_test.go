package integration

// Mount benchmarks against their references, on a commit of the Go
// distribution, in the same run:
//
//	REPOFS_BENCH=1 go test -run TestMountRatios -v ./integration/
//
// ls -lR over the mount (cold: fresh mount and dropped page cache; warm:
// again) against `ostree ls -R` and against ls -lR of a native checkout;
// reading every file through the mount against reading the native checkout
// (bare-user) and against `ostree checkout` (archive); and the peak RSS of
// the mount process.

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readAll reads every regular file under root and returns the bytes read.
func readAll(t *testing.T, root string) int64 {
	t.Helper()
	var total int64
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.CopyBuffer(io.Discard, f, buf)
		total += n
		return err
	})
	if err != nil {
		t.Fatalf("read %s: %v", root, err)
	}
	return total
}

func dropCaches() {
	syscall.Sync()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0)
}

func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// peakRSS reads a running process's high-water RSS.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func TestMountRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure the mount against its references")
	}
	if _, err := exec.LookPath("ostree"); err != nil {
		t.Skip("ostree is not installed")
	}
	_, goroot, err := benchTree()
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 3
	fmt.Printf("workload: %s committed with ostree; median of %d runs\n", goroot, rounds)
	fmt.Printf("%-34s %12s %12s %7s\n", "case", "reference", "repofs", "ratio")
	row := func(name string, ref, ours []time.Duration) {
		o, r := median(ref), median(ours)
		fmt.Printf("%-34s %12v %12v %7.2f\n", name, o.Round(time.Millisecond), r.Round(time.Millisecond), float64(r)/float64(o))
	}
	for _, mode := range []string{"bare-user", "archive"} {
		p := filepath.Join(t.TempDir(), "repo")
		if r := runCmd(t, nil, "ostree", "--repo="+p, "init", "--mode="+mode); r.code != 0 {
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
		var coldLs, warmLs, ostreeLs, nativeLs, mountRead, refRead []time.Duration
		var rss int64
		for range rounds {
			dropCaches()
			ostreeLs = append(ostreeLs, timed(func() { runRead(t, "ostree", p, readCase{args: []string{"ls", "-R", benchRef}}) }))
			ls := func(dir string) { runCmd(t, io.Discard, "ls", "-lR", dir+"/") }
			ls(native)
			nativeLs = append(nativeLs, timed(func() { ls(native) }))

			dropCaches()
			cmd, _ := startMount(t, p, mp, "refs/heads/"+benchRef)
			tree, err := filepath.EvalSymlinks(filepath.Join(mp, "refs", "heads", benchRef))
			if err != nil {
				t.Fatal(err)
			}
			coldLs = append(coldLs, timed(func() { ls(tree) }))
			warmLs = append(warmLs, timed(func() { ls(tree) }))
			if mode == "bare-user" {
				readAll(t, native)
				refRead = append(refRead, timed(func() { readAll(t, native) }))
			} else {
				dropCaches()
				co := filepath.Join(t.TempDir(), "co")
				refRead = append(refRead, timed(func() {
					if r := runCmd(t, nil, "ostree", "--repo="+p, "checkout", benchRef, co); r.code != 0 {
						t.Fatal(r.stderr)
					}
				}))
			}
			if mode == "bare-user" {
				readAll(t, tree) // warm, as the native side is
			} else {
				dropCaches() // cold, as ostree checkout is
			}
			var n int64
			mountRead = append(mountRead, timed(func() { n = readAll(t, tree) }))
			rss = max(rss, peakRSS(cmd.Process.Pid))
			cmd.Process.Signal(syscall.SIGINT)
			if code := waitExit(t, cmd, 30*time.Second); code != 0 {
				t.Fatalf("mount exit %d", code)
			}
			_ = n
		}
		row("ls -lR cold mount / ostree ls -R", ostreeLs, coldLs)
		row("ls -lR warm mount / native ls -lR", nativeLs, warmLs)
		if mode == "bare-user" {
			row("read all warm: mount / native", refRead, mountRead)
		} else {
			row("read all cold: mount / ostree co", refRead, mountRead)
		}
		fmt.Printf("%-34s %12s %12s\n", mode+": mount peak RSS", "", mib(rss))
	}
}
