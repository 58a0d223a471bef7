package integration

// The mount and the CLI at mirror scale: Flathub-shaped refs
// (refs/heads/app/org.example.AppNNNNNN/x86_64/stable) by the thousand,
// and thousands of commits, in a bare-user repository.
//
//	REPOFS_BENCH=1 go test -run TestScale -v -timeout 2h ./integration/
//
// For each size it reports: how long the mount takes to serve its refs;
// find MNT/refs -type l (first, then again) against find of REPO/refs on
// disk; how long a ref moved by `repofs refs` and by `ostree refs` takes to
// show in the mount (p50/p99, from the command's exit); ls MNT/commits; the
// mount's peak RSS and its CPU while idle. Knobs, for a shared machine:
// REPOFS_SCALE_SIZES ("1000:100,10000:1000,100000:10000", refs:commits),
// REPOFS_SCALE_CHANGES (per writer, default 50), REPOFS_SCALE_IDLE
// (default 60s).

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repofs/repofs/repo/gvariant"
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// scaleRef is the i-th ref of a scale repository, under refs/heads.
func scaleRef(i int) string { return fmt.Sprintf("app/org.example.App%06d/x86_64/stable", i) }

// scaleRepo makes a bare-user repository with one commit by ostree and
// commits-1 more that differ by subject (written as objects directly: the
// benchmark is about listing them, and ostree takes minutes to make ten
// thousand), and refs refs, all on the first commit as a mirror of one
// runtime's apps would be. It returns the commits.
func scaleRepo(t *testing.T, p string, refs, commits int) []string {
	t.Helper()
	if r := runCmd(t, nil, "ostree", "--repo="+p, "init", "--mode=bare-user"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "file"), []byte("content\n"), 0o644)
	r := runCmd(t, nil, "ostree", "--repo="+p, "commit", "-b", "seed", "--tree=dir="+src)
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	seed := strings.TrimSpace(r.stdout)
	data, err := os.ReadFile(filepath.Join(p, "objects", seed[:2], seed[2:]+".commit"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := gvariant.DecodeCommit(data)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{seed}
	for i := 1; i < commits; i++ {
		c.Subject = fmt.Sprintf("commit %d", i)
		b := gvariant.EncodeCommit(c)
		sum := fmt.Sprintf("%x", sha256.Sum256(b))
		dir := filepath.Join(p, "objects", sum[:2])
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, sum[2:]+".commit"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, sum)
	}
	for i := range refs {
		f := filepath.Join(p, "refs", "heads", filepath.FromSlash(scaleRef(i)))
		os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, []byte(seed+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// raiseWatches makes room for n more watches, restoring the limit after
// the test.
func raiseWatches(t *testing.T, n int) {
	const knob = "/proc/sys/fs/inotify/max_user_watches"
	b, err := os.ReadFile(knob)
	if err != nil {
		return
	}
	cur, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// The limit is per user, and other processes of ours (other tests,
	// other mounts) hold watches too: raise it by n, not to n, or the
	// mount may find no room and poll, which the idle figure shows.
	n += cur
	if err := os.WriteFile(knob, []byte(strconv.Itoa(n)), 0); err != nil {
		t.Logf("cannot raise %s to %d: %v", knob, n, err)
		return
	}
	fmt.Printf("raised fs.inotify.max_user_watches from %d to %d for the run\n", cur, n)
	t.Cleanup(func() { os.WriteFile(knob, b, 0) })
}

func percentile(d []time.Duration, p float64) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// processCPU is a process's CPU time so far.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func TestScale(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure the mount at mirror scale")
	}
	if _, err := exec.LookPath("ostree"); err != nil {
		t.Skip("ostree is not installed")
	}
	requireFUSE(t)
	changes, _ := strconv.Atoi(envOr("REPOFS_SCALE_CHANGES", "50"))
	idle, err := time.ParseDuration(envOr("REPOFS_SCALE_IDLE", "60s"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%-15s %9s %9s %9s %9s %9s %9s %9s %9s %9s %8s %7s\n", "refs/commits", "ready", "find 1st", "find 2nd",
		"find disk", "repofs50", "repofs99", "ostree50", "ostree99", "ls commits", "RSS", "idle")
	for _, size := range strings.Split(envOr("REPOFS_SCALE_SIZES", "1000:100,10000:1000,100000:10000"), ",") {
		a, b, _ := strings.Cut(size, ":")
		refs, _ := strconv.Atoi(a)
		ncommits, _ := strconv.Atoi(b)
		raiseWatches(t, 2*refs+1000)
		p := filepath.Join(t.TempDir(), "repo")
		commits := scaleRepo(t, p, refs, ncommits)
		mp := t.TempDir()
		start := time.Now()
		cmd, _ := startMount(t, p, mp, "refs/heads/"+scaleRef(refs-1))
		ready := time.Since(start)
		find := func(dir string, typ string) time.Duration {
			return timed(func() {
				if r := runCmd(t, io.Discard, "find", dir, "-type", typ); r.code != 0 {
					t.Fatalf("find %s: %s", dir, r.stderr)
				}
			})
		}
		find1 := find(filepath.Join(mp, "refs"), "l")
		find2 := find(filepath.Join(mp, "refs"), "l")
		findDisk := find(filepath.Join(p, "refs"), "f")
		findDisk = min(findDisk, find(filepath.Join(p, "refs"), "f"))

		// Ref changes, from the writer's exit to the symlink's change.
		move := func(tool string, i int) time.Duration {
			ref := scaleRef((i * 7919) % refs)
			c := commits[1+i%(len(commits)-1)]
			if len(commits) == 1 {
				c = commits[0]
			}
			bin := repofsBin
			if tool == "ostree" {
				bin = "ostree"
			}
			if r := runCmd(t, nil, bin, "--repo="+p, "refs", "--force", "--create="+ref, c); r.code != 0 {
				t.Fatalf("%s refs --create: %s", tool, r.stderr)
			}
			begin := time.Now()
			link := filepath.Join(mp, "refs", "heads", filepath.FromSlash(ref))
			for {
				if target, err := os.Readlink(link); err == nil && strings.HasSuffix(target, c) {
					return time.Since(begin)
				}
				if time.Since(begin) > 2*time.Minute {
					t.Fatalf("ref %s moved by %s: not shown after 2 minutes", ref, tool)
				}
				time.Sleep(200 * time.Microsecond)
			}
		}
		var byRepofs, byOstree []time.Duration
		for i := range changes {
			byRepofs = append(byRepofs, move("repofs", 2*i))
			byOstree = append(byOstree, move("ostree", 2*i+1))
		}
		ls := timed(func() {
			if r := runCmd(t, io.Discard, "ls", filepath.Join(mp, "commits")); r.code != 0 {
				t.Fatal(r.stderr)
			}
		})
		cpu0 := processCPU(cmd.Process.Pid)
		time.Sleep(idle) // the measurement itself: the mount left alone
		idleCPU := float64(processCPU(cmd.Process.Pid)-cpu0) / float64(idle) * 100
		rss := peakRSS(cmd.Process.Pid)
		ms := func(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond)) }
		fmt.Printf("%-15s %9s %9s %9s %9s %9s %9s %9s %9s %9s %8s %6.2f%%\n", size, ms(ready), ms(find1), ms(find2), ms(findDisk),
			ms(percentile(byRepofs, .5)), ms(percentile(byRepofs, .99)), ms(percentile(byOstree, .5)), ms(percentile(byOstree, .99)),
			ms(ls), mib(rss), idleCPU)
		cmd.Process.Signal(syscall.SIGINT)
		if code := waitExit(t, cmd, time.Minute); code != 0 {
			t.Errorf("mount exit %d", code)
		}
	}
}
