package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPullRatios measures `repofs pull` against `ostree pull` of the
// workload from an archive repository served over HTTP on loopback, into
// fresh archive and bare-user repositories, in the same run; set
// REPOFS_BENCH_OLD to older repofs binaries (colon-separated) to add
// their rows, alternated with the others. REPOFS_BENCH_MODES lists the
// modes to pull into (comma-separated; default archive,bare-user) and
// REPOFS_BENCH_ROUNDS the runs of each tool per mode (default 3). The
// clients live on an ext4 of the benchmark's own (benchArea):
//
//	REPOFS_BENCH=1 [REPOFS_BENCH_OLD=/path/to/old/repofs] [REPOFS_BENCH_MODES=bare-user] [REPOFS_BENCH_ROUNDS=5] go test -run TestPullRatios -v ./integration/
func TestPullRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure pull against ostree")
	}
	w := benchWorkload(t)
	src := w.repos["archive"]
	if r := runCmd(t, nil, "ostree", "--repo="+src, "summary", "-u"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer srv.Close()
	rounds := 3
	if v := os.Getenv("REPOFS_BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("REPOFS_BENCH_ROUNDS=%s: want a whole number from 1", v)
		}
		rounds = n
	}
	modes := []string{"archive", "bare-user"}
	if v := os.Getenv("REPOFS_BENCH_MODES"); v != "" {
		modes = strings.Split(v, ",")
	}
	fmt.Printf("workload: pull of %s from %s (archive, loopback HTTP) into fresh repositories; median of %d alternating runs\n", benchRef, srv.URL, rounds)
	printRatioHeader()
	ts := toolsWithOld()
	// Clients on an ext4 of their own: none deleted until the end, and
	// none paying for what other processes deleted nearby (benchArea).
	area := benchArea(t)
	for _, mode := range modes {
		runs := make([][]result, len(ts))
		trees := make([]string, len(ts))
		for i := range rounds {
			for j := range ts {
				k := (i + j) % len(ts)
				tool := ts[k]
				p := filepath.Join(area, fmt.Sprintf("%s-%s-%d", mode, tool.name, i))
				for _, args := range [][]string{
					{"--repo=" + p, "init", "--mode=" + mode},
					{"--repo=" + p, "remote", "add", "--no-gpg-verify", "origin", srv.URL},
				} {
					if r := runCmd(t, nil, tool.bin, args...); r.code != 0 {
						t.Fatalf("%s %v: %s", tool.name, args, r.stderr)
					}
				}
				syscall.Sync()
				res := runCmd(t, nil, tool.bin, "--repo="+p, "pull", "origin", benchRef)
				if res.code != 0 {
					t.Fatalf("%s pull: exit %d\n%s", tool.name, res.code, res.stderr)
				}
				runs[k] = append(runs[k], res)
				trees[k] = runCmd(t, nil, "ostree", "--repo="+p, "ls", "-d", "-C", "origin:"+benchRef, "/").stdout
				if i == 0 {
					if r := runCmd(t, nil, "ostree", "--repo="+p, "fsck", "-q"); r.code != 0 {
						t.Errorf("%s pull: ostree fsck: %s", tool.name, r.stderr)
					}
				}
			}
		}
		for k := 1; k < len(ts); k++ {
			if trees[0] != trees[k] || trees[0] == "" {
				t.Errorf("pulled trees differ: ostree %q, %s %q", trees[0], ts[k].name, trees[k])
			}
		}
		printRatioRows("Pull/archive->"+mode, ts, runs)
	}
}

// printRatioHeader and printRatioRow print a table of median wall and CPU
// (user + system) times of ostree and repofs, their ratios, and peak RSS.
func printRatioHeader() {
	fmt.Printf("%-26s %10s %10s %6s %10s %10s %6s %10s %10s\n", "case", "ostree", "repofs", "ratio",
		"ostree CPU", "repofs CPU", "ratio", "ostree RSS", "repofs RSS")
}

func printRatioRow(name string, runs [2][]result) {
	var wall, cpu [2]time.Duration
	var rss [2]int64
	for k := range runs {
		var ws, cs []time.Duration
		for _, r := range runs[k] {
			ws, cs = append(ws, r.wall), append(cs, r.cpu)
			rss[k] = max(rss[k], r.maxRSS)
		}
		wall[k], cpu[k] = median(ws), median(cs)
	}
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	fmt.Printf("%-26s %10v %10v %6.2f %10v %10v %6.2f %10s %10s\n", name,
		ms(wall[0]), ms(wall[1]), float64(wall[1])/float64(wall[0]),
		ms(cpu[0]), ms(cpu[1]), float64(cpu[1])/float64(cpu[0]), mib(rss[0]), mib(rss[1]))
}

// settleInodes waits out the window in which ext4 (without a journal, as
// here) skips freed inodes when it allocates: each allocation looks at the
// inode table of every free inode of its group before the one it takes,
// and skips those freed less than a minute ago (fs/ext4/ialloc.c,
// RECENTCY_MIN; five more while their inode table block is dirty, which
// the sync before this ends), so whichever run follows a mass deletion
// pays for it, quadratically. A measurement wait, not synchronisation.
func settleInodes() {
	window := 60 * time.Second
	if b, err := os.ReadFile("/proc/sys/vm/dirty_expire_centisecs"); err == nil {
		var cs int
		if _, err := fmt.Sscan(string(b), &cs); err == nil {
			window = max(window, time.Duration(cs)*10*time.Millisecond)
		}
	}
	time.Sleep(window + time.Second)
}

// TestCheckoutRatios measures `repofs checkout` against `ostree checkout`
// of the workload, and against `cp -a` of the same tree: -U from the
// archive repository with the uncompressed-objects cache empty before each
// run (both tools fill it: ostree fsyncs each entry before naming it;
// repofs leaves its new entries pending, and the next -U checkout makes
// them durable with one syncfs before it names them, a cost printed
// below the row as that of a one-file checkout right after),
// with it full (both hardlink from it; either tool's entries serve the
// other), and with --disable-cache (every file inflated and written);
// and from the bare repository (hardlinks). REPOFS_BENCH_OLD may list
// several binaries, colon-separated. Each case runs REPOFS_BENCH_ROUNDS
// (default 3) rounds, each running every tool once, in an order that
// rotates per round.
//
// Every timed command runs on a filesystem made for it alone (see
// freshArea), holding a copy of the repository the case reads, the
// cache as the case wants it, and the output of one untimed run of the
// same command first (the steady state, in which repofs's
// verified-objects record knows the objects and cache entries it reads).
// A filesystem shared by the runs made each pay for what the runs before
// it had deleted: ext4 without a journal skips, when it allocates an
// inode, the free inodes of its group freed less than a minute ago (six
// minutes while their inode table block is dirty, which allocating next
// to them makes it; fs/ext4/ialloc.c recently_deleted), each skip a
// buffer-cache lookup, so the same cp -a took from under 1 s to over 2.5 s
// of CPU by what had run before it, and waiting a minute between cases
// did not cover it. Nothing on a run's filesystem was deleted before it
// (the case's cache is emptied by renaming it away, not deleting it), so
// no run pays for another. Every run starts after its sources were read
// into the page cache and after a sync, so no writeback of an earlier
// step overlaps it. What is left is the load of other processes on the
// machine: each round's ratio, of two runs next to each other in time, is
// printed besides the ratio of the medians, as the spread (min-max) over
// the rounds, and the load average.
//
// The cp -a rows are the target; the "cp -a;sync -f" row is the
// floor of what a -U checkout into an empty cache did when it made its
// new entries durable itself, before naming them (a syncfs), where cp -a
// flushes nothing. REPOFS_BENCH_CASES, a regular expression, runs only the cases
// it matches; REPOFS_BENCH_MKFS gives mkfs.ext4 options for the runs'
// filesystems (default none: ext4 as mkfs.ext4 makes it, with a journal,
// as most hosts have it; "-O ^has_journal" for one like this machine's):
//
//	REPOFS_BENCH=1 [REPOFS_BENCH_OLD=/path/to/old/repofs] [REPOFS_BENCH_CASES='empty'] [REPOFS_BENCH_ROUNDS=5] go test -run TestCheckoutRatios -v ./integration/
func TestCheckoutRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure checkout against ostree")
	}
	var only *regexp.Regexp
	if e := os.Getenv("REPOFS_BENCH_CASES"); e != "" {
		var err error
		if only, err = regexp.Compile(e); err != nil {
			t.Fatalf("REPOFS_BENCH_CASES: %v", err)
		}
	}
	rounds := 3
	if e := os.Getenv("REPOFS_BENCH_ROUNDS"); e != "" {
		if _, err := fmt.Sscan(e, &rounds); err != nil || rounds < 1 {
			t.Fatalf("REPOFS_BENCH_ROUNDS=%q: want a count of at least 1", e)
		}
	}
	mkfsOpts := strings.Fields(os.Getenv("REPOFS_BENCH_MKFS"))
	w := benchWorkload(t)
	// The sources, read only: the repositories without a cache or a
	// record, and the tree cp -a copies (a checkout of the commit).
	area := t.TempDir()
	repos := map[string]string{}
	for _, mode := range benchModes {
		p := filepath.Join(area, mode)
		if r := runCmd(t, nil, "cp", "-a", w.repos[mode], p); r.code != 0 {
			t.Fatal(r.stderr)
		}
		for _, f := range []string{"uncompressed-objects-cache", "repofs-verified"} {
			if err := os.RemoveAll(filepath.Join(p, f)); err != nil {
				t.Fatal(err)
			}
		}
		repos[mode] = p
	}
	tree := filepath.Join(area, "tree")
	if r := runCmd(t, nil, "ostree", "--repo="+repos["archive"], "checkout", "-U", "--disable-cache", benchRef, tree); r.code != 0 {
		t.Fatal(r.stderr)
	}
	bins := []string{repofsBin}
	if old := os.Getenv("REPOFS_BENCH_OLD"); old != "" {
		bins = append(filepath.SplitList(old), repofsBin)
	}
	// Which binaries know --disable-cache (older ones had no cache).
	hasCache := make([]bool, len(bins))
	for i, b := range bins {
		hasCache[i] = strings.Contains(runCmd(t, nil, b, "checkout", "--help").stdout, "--disable-cache")
	}
	fmt.Printf("workload: checkout of %s; median of %d alternating runs, each on a new ext4 (mkfs.ext4 %v), spread: min-max of the rounds' ratios; repofs columns: %v\n", benchRef, rounds, mkfsOpts, bins)
	fmt.Printf("%-34s %10s", "case", "reference")
	for i := range bins {
		fmt.Printf(" %10s", fmt.Sprintf("repofs#%d", i))
	}
	fmt.Printf(" %6s %11s %10s", "ratio", "spread", "ref CPU")
	for i := range bins {
		fmt.Printf(" %10s", fmt.Sprintf("CPU#%d", i))
	}
	fmt.Printf(" %6s %11s %s\n", "ratio", "spread", "load")
	// fillCache fills the cache of the archive repository at repo, as if
	// a while ago: repofs records (and then links unread) only entries
	// whose mtime is past its racy window. The checkout stays: deleting
	// it would free inodes (see above).
	fillCache := func(repo string) {
		co := filepath.Join(filepath.Dir(repo), "fill")
		if r := runCmd(t, nil, "ostree", "--repo="+repo, "checkout", "-U", benchRef, co); r.code != 0 {
			t.Fatal(r.stderr)
		}
		old := time.Now().Add(-time.Minute)
		filepath.WalkDir(filepath.Join(repo, "uncompressed-objects-cache"), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				os.Chtimes(p, old, old)
			}
			return nil
		})
	}
	// emptyCache takes the cache of the archive repository at repo out
	// of its way without freeing an inode, and tmp/ with it: the entries
	// the warm-up run left pending there (repofs publishes a checkout's
	// new entries at the next -U checkout) would fill the cache the timed
	// run is to find empty, and cost it their publication.
	emptyCache := func(repo string) {
		for _, d := range []string{"uncompressed-objects-cache", "tmp"} {
			err := os.Rename(filepath.Join(repo, d), filepath.Join(filepath.Dir(repo), "old-"+d))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(filepath.Join(repo, "tmp"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// One small file of the tree: a -U checkout of it alone costs about
	// nothing but the publication of what the checkout before left
	// pending.
	var small string
	if ents, err := os.ReadDir(tree); err == nil {
		for _, e := range ents {
			if info, err := e.Info(); err == nil && e.Type().IsRegular() && info.Size() > 0 && info.Size() < 4096 {
				small = "/" + e.Name()
				break
			}
		}
	}
	for _, c := range []struct {
		name   string
		mode   string                           // of the repository the case reads
		ref    func(repo, dest string) []string // the reference command
		repofs func(repo, dest string) []string // after the binary
		cache  string                           // "empty", "full": before each run; "": left as it is
	}{
		{"Checkout -U/archive empty", "archive", func(r, d string) []string {
			return []string{"ostree", "--repo=" + r, "checkout", "-U", benchRef, d}
		}, func(r, d string) []string { return []string{"--repo=" + r, "checkout", "-U", benchRef, d} }, "empty"},
		{"Checkout -U/archive cached", "archive", func(r, d string) []string {
			return []string{"ostree", "--repo=" + r, "checkout", "-U", benchRef, d}
		}, func(r, d string) []string { return []string{"--repo=" + r, "checkout", "-U", benchRef, d} }, "full"},
		{"Checkout -U/archive nocache", "archive", func(r, d string) []string {
			return []string{"ostree", "--repo=" + r, "checkout", "-U", "--disable-cache", benchRef, d}
		}, func(r, d string) []string {
			return []string{"--repo=" + r, "checkout", "-U", "--disable-cache", benchRef, d}
		}, ""},
		{"cp -a vs -U/archive empty", "archive", func(r, d string) []string { return []string{"cp", "-a", tree, d} },
			func(r, d string) []string { return []string{"--repo=" + r, "checkout", "-U", benchRef, d} }, "empty"},
		// The durable floor: what repofs does (write the files, then make
		// the new cache entries durable before naming them) is what cp -a
		// does plus a syncfs; cp -a alone flushes nothing.
		{"cp -a;sync -f vs -U/archive empty", "archive", func(r, d string) []string {
			return []string{"sh", "-c", `cp -a "$1" "$2" && sync -f "$2"`, "sh", tree, d}
		}, func(r, d string) []string { return []string{"--repo=" + r, "checkout", "-U", benchRef, d} }, "empty"},
		{"cp -a vs -U/archive cached", "archive", func(r, d string) []string { return []string{"cp", "-a", tree, d} },
			func(r, d string) []string { return []string{"--repo=" + r, "checkout", "-U", benchRef, d} }, "full"},
		{"cp -a vs -U/archive nocache", "archive", func(r, d string) []string { return []string{"cp", "-a", tree, d} },
			func(r, d string) []string {
				return []string{"--repo=" + r, "checkout", "-U", "--disable-cache", benchRef, d}
			}, ""},
		{"Checkout/bare", "bare", func(r, d string) []string {
			return []string{"ostree", "--repo=" + r, "checkout", benchRef, d}
		}, func(r, d string) []string { return []string{"--repo=" + r, "checkout", benchRef, d} }, ""},
	} {
		if only != nil && !only.MatchString(c.name) {
			continue
		}
		n := 1 + len(bins)
		runs := make([][]result, n)
		next := make([][]result, n) // the -U checkout after a repofs one, into an empty cache
		load0 := loadAvg()
		for i := range rounds {
			for j := range n {
				k := (i + j) % n
				fs, done := freshArea(t, mkfsOpts)
				repo := filepath.Join(fs, c.mode)
				if r := runCmd(t, nil, "cp", "-a", repos[c.mode], repo); r.code != 0 {
					t.Fatal(r.stderr)
				}
				if c.cache == "full" {
					fillCache(repo)
				}
				args := func(dest string) []string {
					if k == 0 {
						return c.ref(repo, dest)
					}
					a := append([]string{bins[k-1]}, c.repofs(repo, dest)...)
					if !hasCache[k-1] {
						// An old binary has no cache, nor the flag.
						a = slices.DeleteFunc(a, func(a string) bool { return a == "--disable-cache" })
					}
					return a
				}
				// The steady state first, untimed.
				a := args(filepath.Join(fs, "warm"))
				if res := runCmd(t, nil, a[0], a[1:]...); res.code != 0 {
					t.Fatalf("%v: exit %d\n%s", a, res.code, res.stderr)
				}
				if c.cache == "empty" {
					emptyCache(repo)
				}
				warm(t, tree, filepath.Join(repo, "objects"))
				syscall.Sync()
				a = args(filepath.Join(fs, "co"))
				res := runCmd(t, nil, a[0], a[1:]...)
				if res.code != 0 {
					t.Fatalf("%v: exit %d\n%s", a, res.code, res.stderr)
				}
				runs[k] = append(runs[k], res)
				if c.cache == "empty" && k > 0 && small != "" {
					// What the next -U checkout pays for publishing what
					// this one left, right after it: the worst case, as
					// the kernel has written back nothing of it yet.
					a := append([]string{bins[k-1]}, c.repofs(repo, filepath.Join(fs, "next"))...)
					a = append(a[:len(a)-2], "--subpath="+small, a[len(a)-2], a[len(a)-1])
					res := runCmd(t, nil, a[0], a[1:]...)
					if res.code != 0 {
						t.Fatalf("%v: exit %d\n%s", a, res.code, res.stderr)
					}
					next[k] = append(next[k], res)
				}
				done()
			}
		}
		load1 := loadAvg()
		var wall, cpu []time.Duration
		for k := range runs {
			var ws, cs []time.Duration
			for _, r := range runs[k] {
				ws, cs = append(ws, r.wall), append(cs, r.cpu)
			}
			wall, cpu = append(wall, median(ws)), append(cpu, median(cs))
		}
		// Each round's ratio of the newest binary to the reference.
		spread := func(of func(result) time.Duration) string {
			lo, hi := 0.0, 0.0
			for i := range rounds {
				r := float64(of(runs[n-1][i])) / float64(of(runs[0][i]))
				if i == 0 || r < lo {
					lo = r
				}
				if i == 0 || r > hi {
					hi = r
				}
			}
			return fmt.Sprintf("%.2f-%.2f", lo, hi)
		}
		ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
		fmt.Printf("%-34s %10v", c.name, ms(wall[0]))
		for _, d := range wall[1:] {
			fmt.Printf(" %10v", ms(d))
		}
		fmt.Printf(" %6.2f %11s %10v", float64(wall[n-1])/float64(wall[0]), spread(func(r result) time.Duration { return r.wall }), ms(cpu[0]))
		for _, d := range cpu[1:] {
			fmt.Printf(" %10v", ms(d))
		}
		fmt.Printf(" %6.2f %11s %s..%s\n", float64(cpu[n-1])/float64(cpu[0]), spread(func(r result) time.Duration { return r.cpu }), load0, load1)
		if len(next[n-1]) > 0 {
			fmt.Printf("  next -U checkout of %s right after, paying the publication:", small)
			for k := 1; k < n; k++ {
				var ws []time.Duration
				for _, r := range next[k] {
					ws = append(ws, r.wall)
				}
				fmt.Printf(" repofs#%d %v", k-1, ms(median(ws)))
			}
			fmt.Println()
		}
		if testing.Verbose() {
			for k := range runs {
				fmt.Printf("  column %d, wall/CPU per round:", k)
				for _, r := range runs[k] {
					fmt.Printf(" %v/%v", ms(r.wall), ms(r.cpu))
				}
				fmt.Println()
			}
		}
	}
}

// freshArea returns the mount point of a new, empty ext4 made with the
// mkfs.ext4 options opts, in a sparse image under t.TempDir(),
// loop-mounted with direct I/O (no second copy of its blocks in the page
// cache), and done, which unmounts and removes it. Nothing was ever
// deleted on it: a run there pays for no other's deletions (see
// TestCheckoutRatios). Without root or loop devices it falls back to a
// new directory of benchArea's kind.
func freshArea(t *testing.T, opts []string) (dir string, done func()) {
	d, err := os.MkdirTemp(t.TempDir(), "fs")
	if err != nil {
		t.Fatal(err)
	}
	img, mnt := filepath.Join(d, "fs.img"), filepath.Join(d, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	var undo []func()
	done = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		os.RemoveAll(d)
	}
	fallback := func(why string) (string, func()) {
		t.Logf("benchmark filesystem: %s; using a directory of the machine's", why)
		setTopDir(t, mnt)
		return mnt, done
	}
	if os.Geteuid() != 0 {
		return fallback("not root")
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 8<<30); err != nil { // sparse
		t.Fatal(err)
	}
	if r := runCmd(t, nil, "mkfs.ext4", append(append([]string{"-q", "-F"}, opts...), img)...); r.code != 0 {
		return fallback("mkfs.ext4: " + strings.TrimSpace(r.stderr))
	}
	r := runCmd(t, nil, "losetup", "--find", "--show", "--direct-io=on", img)
	if r.code != 0 {
		return fallback("losetup: " + strings.TrimSpace(r.stderr))
	}
	dev := strings.TrimSpace(r.stdout)
	undo = append(undo, func() { runCmd(t, nil, "losetup", "-d", dev) })
	if r := runCmd(t, nil, "mount", dev, mnt); r.code != 0 {
		return fallback("mount: " + strings.TrimSpace(r.stderr))
	}
	undo = append(undo, func() {
		if r := runCmd(t, nil, "umount", mnt); r.code != 0 {
			t.Errorf("umount %s: %s", mnt, r.stderr)
		}
	})
	return mnt, done
}

// benchArea returns a directory on a filesystem of the benchmark's own:
// a new ext4 without a journal (as the machine's root filesystem), in an
// image under t.TempDir(), loop-mounted with direct I/O (no second copy
// of its blocks in the page cache). No other process creates or deletes
// files there, so ext4's skipping of recently freed inodes (see
// TestCheckoutRatios) costs a run only what the benchmark itself freed,
// which it waits out. Without root or loop devices it falls back to a
// directory with the top-directory flag (chattr +T): ext4 puts each
// directory made right under it in a block group with many free inodes,
// which keeps the trees' first inodes, not all of them, away from the
// churn of other processes.
func benchArea(t *testing.T) string {
	d := t.TempDir()
	img, mnt := filepath.Join(d, "fs.img"), filepath.Join(d, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	fallback := func(why string) string {
		t.Logf("benchmark filesystem: %s; using a directory of the machine's", why)
		setTopDir(t, mnt)
		return mnt
	}
	if os.Geteuid() != 0 {
		return fallback("not root")
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<30); err != nil { // sparse
		t.Fatal(err)
	}
	if r := runCmd(t, nil, "mkfs.ext4", "-q", "-F", "-O", "^has_journal", img); r.code != 0 {
		return fallback("mkfs.ext4: " + strings.TrimSpace(r.stderr))
	}
	r := runCmd(t, nil, "losetup", "--find", "--show", "--direct-io=on", img)
	if r.code != 0 {
		return fallback("losetup: " + strings.TrimSpace(r.stderr))
	}
	dev := strings.TrimSpace(r.stdout)
	t.Cleanup(func() { runCmd(t, nil, "losetup", "-d", dev) })
	if r := runCmd(t, nil, "mount", dev, mnt); r.code != 0 {
		return fallback("mount: " + strings.TrimSpace(r.stderr))
	}
	t.Cleanup(func() { runCmd(t, nil, "umount", mnt) })
	return mnt
}

// warm reads every regular file under the roots, so that each run reads
// its sources from the page cache whatever other processes pushed out
// of it meanwhile.
func warm(t *testing.T, roots ...string) {
	buf := make([]byte, 1<<20)
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			for {
				if _, err := f.Read(buf); err != nil {
					return nil
				}
			}
		})
		if err != nil {
			t.Fatalf("read %s into the page cache: %v", root, err)
		}
	}
}

// setTopDir sets the top-directory flag on the directory p, or logs why not.
func setTopDir(t *testing.T, p string) {
	if r := runCmd(t, nil, "chattr", "+T", p); r.code != 0 {
		t.Logf("chattr +T %s: %s; runs may pay for inodes freed nearby", p, strings.TrimSpace(r.stderr))
	}
}

// loadAvg is the one-minute load average, for the reader of a table.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
