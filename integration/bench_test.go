package integration

// Read-path benchmarks of repofs against the real ostree, on a commit of the
// Go distribution ($(go env GOROOT), ~15k files) in archive and bare mode.
//
// The ratio table (median of alternating runs, peak RSS of each side):
//
//	REPOFS_BENCH=1 go test -run TestReadPathRatios -v ./integration/
//
// The Go benchmarks, one sub-benchmark per tool and mode:
//
//	go test -run '^$' -bench . ./integration/
//
// The workload is committed once with `ostree commit` into a directory under
// os.TempDir() keyed by the Go version and GOROOT, and reused by later runs;
// ordinary `go test` runs never build it.

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
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchRef is the ref the workload is committed to.
const benchRef = "bench/goroot"

// benchModes are the repository modes the read path is measured in.
var benchModes = []string{"archive", "bare"}

// workload is the benchmark corpus: one repository per mode, all holding the
// same tree, and the largest regular file in it.
type workload struct {
	repos   map[string]string // mode -> repository path
	largest string            // absolute path inside the commit
	size    int64
}

var (
	workloadOnce sync.Once
	theWorkload  *workload
	workloadErr  error
)

// benchWorkload returns the cached workload, committing it first if needed.
func benchWorkload(tb testing.TB) *workload {
	tb.Helper()
	if _, err := exec.LookPath("ostree"); err != nil {
		tb.Skip("ostree is not installed; the read-path benchmark compares against it")
	}
	workloadOnce.Do(func() { theWorkload, workloadErr = buildWorkload() })
	if workloadErr != nil {
		tb.Fatalf("benchmark workload: %v", workloadErr)
	}
	return theWorkload
}

func goEnv(name string) (string, error) {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func buildWorkload() (*workload, error) {
	treeName, goroot, err := benchTree()
	if err != nil {
		return nil, err
	}
	version, err := goEnv("GOVERSION")
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s-%s-%x", treeName, version, sha256.Sum256([]byte(goroot)))[:len(treeName)+len(version)+14]
	cache := filepath.Join(os.TempDir(), "repofs-bench-"+key)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockDir(cache)
	if err != nil {
		return nil, err
	}
	defer unlock()
	w := &workload{repos: map[string]string{}}
	for _, mode := range benchModes {
		p := filepath.Join(cache, mode)
		if _, err := os.Stat(filepath.Join(p, "refs", "heads", benchRef)); err != nil {
			if err := commitWorkload(p, mode, goroot); err != nil {
				return nil, err
			}
		}
		w.repos[mode] = p
	}
	w.largest, w.size, err = largestFile(w.repos["archive"])
	return w, err
}

// lockDir takes an exclusive lock on dir/lock, so that concurrent test
// binaries build the cache once.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// commitWorkload commits tree into a new repository at p, building it
// beside p and renaming it into place so that a half-built one is never used.
func commitWorkload(p, mode, tree string) error {
	tmp := p + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"init", "--repo=" + tmp, "--mode=" + mode},
		{"commit", "--repo=" + tmp, "-b", benchRef, "-s", "Go distribution", "--tree=dir=" + tree},
	} {
		if out, err := exec.Command("ostree", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ostree %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if err := os.RemoveAll(p); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// largestFile finds the largest regular file of the workload commit from
// `ostree ls -R`, whose lines read "-00644 0 0   size /path".
func largestFile(repoPath string) (string, int64, error) {
	out, err := exec.Command("ostree", "--repo="+repoPath, "ls", "-R", benchRef).Output()
	if err != nil {
		return "", 0, fmt.Errorf("ostree ls -R: %w", err)
	}
	var best string
	var bestSize int64 = -1
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "-") {
			continue
		}
		i := strings.Index(line, " /")
		f := strings.Fields(line[:i])
		if len(f) != 4 {
			return "", 0, fmt.Errorf("unexpected ls line %q", line)
		}
		size, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return "", 0, fmt.Errorf("unexpected ls line %q: %w", line, err)
		}
		if size > bestSize {
			best, bestSize = line[i+1:], size
		}
	}
	if best == "" {
		return "", 0, fmt.Errorf("no regular file in the workload commit")
	}
	return best, bestSize, nil
}

// readCase is one read-path operation, run the same way by both tools.
type readCase struct {
	name string   // LsRecursive, CatLargest
	args []string // after --repo
}

func readCases(w *workload) []readCase {
	return []readCase{
		{"LsRecursive", []string{"ls", "-R", benchRef}},
		{"CatLargest", []string{"cat", benchRef, w.largest}},
	}
}

// tools are the two implementations compared, by the binary they run.
func tools() []struct{ name, bin string } {
	return []struct{ name, bin string }{{"ostree", "ostree"}, {"repofs", repofsBin}}
}

// runRead runs one case with one tool, output discarded, failing on error.
func runRead(tb testing.TB, bin, repoPath string, c readCase) result {
	tb.Helper()
	r := runCmd(tb, io.Discard, bin, append([]string{"--repo=" + repoPath}, c.args...)...)
	if r.code != 0 {
		tb.Fatalf("%s %s: exit %d\n%s", bin, strings.Join(c.args, " "), r.code, r.stderr)
	}
	return r
}

func benchmarkRead(b *testing.B, name string) {
	w := benchWorkload(b)
	var c readCase
	for _, rc := range readCases(w) {
		if rc.name == name {
			c = rc
		}
	}
	for _, tool := range tools() {
		b.Run(tool.name, func(b *testing.B) {
			for _, mode := range benchModes {
				b.Run(mode, func(b *testing.B) {
					for b.Loop() {
						runRead(b, tool.bin, w.repos[mode], c)
					}
				})
			}
		})
	}
}

func BenchmarkLsRecursive(b *testing.B) { benchmarkRead(b, "LsRecursive") }

func BenchmarkCatLargest(b *testing.B) { benchmarkRead(b, "CatLargest") }

// hashOutput runs a case and returns the SHA-256 of its standard output.
func hashOutput(t *testing.T, bin, repoPath string, c readCase) string {
	t.Helper()
	h := sha256.New()
	r := runCmd(t, h, bin, append([]string{"--repo=" + repoPath}, c.args...)...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\n%s", bin, strings.Join(c.args, " "), r.code, r.stderr)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestReadPathRatios measures repofs against ostree on the same workload and
// prints a table. It asserts that both print the same bytes, never times.
func TestReadPathRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure the read path against ostree")
	}
	const rounds = 5
	w := benchWorkload(t)
	fmt.Printf("workload: %s in %s and %s repositories; largest file %s (%d bytes); median of %d alternating runs\n",
		benchRef, benchModes[0], benchModes[1], w.largest, w.size, rounds)
	fmt.Printf("%-24s %12s %12s %7s %12s %12s\n", "case", "ostree", "repofs", "ratio", "ostree RSS", "repofs RSS")
	for _, c := range readCases(w) {
		for _, mode := range benchModes {
			p := w.repos[mode]
			if o, r := hashOutput(t, "ostree", p, c), hashOutput(t, repofsBin, p, c); o != r {
				t.Errorf("%s/%s: repofs output differs from ostree's (sha256 %s, ostree %s)", c.name, mode, r, o)
			}
			var times [2][]time.Duration
			var rss [2]int64
			for i := range rounds {
				for j := range 2 {
					k := (i + j) % 2 // alternate which tool goes first
					res := runRead(t, tools()[k].bin, p, c)
					times[k] = append(times[k], res.wall)
					rss[k] = max(rss[k], res.maxRSS)
				}
			}
			o, r := median(times[0]), median(times[1])
			fmt.Printf("%-24s %12v %12v %7.2f %12s %12s\n", c.name+"/"+mode,
				o.Round(100*time.Microsecond), r.Round(100*time.Microsecond),
				float64(r)/float64(o), mib(rss[0]), mib(rss[1]))
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// TestCommitRatios measures `repofs commit` against `ostree commit` of the
// Go distribution into fresh archive and bare-user repositories, and checks
// that both produce the same commit content (the same root dirtree).
//
//	REPOFS_BENCH=1 go test -run TestCommitRatios -v ./integration/
func TestCommitRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure commit against ostree")
	}
	if _, err := exec.LookPath("ostree"); err != nil {
		t.Skip("ostree is not installed; the commit benchmark compares against it")
	}
	_, goroot, err := benchTree()
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 3
	fmt.Printf("workload: commit of %s into a fresh repository; median of %d alternating runs\n", goroot, rounds)
	printRatioHeader()
	for _, mode := range []string{"archive", "bare-user"} {
		var runs [2][]result
		var trees [2]string
		for i := range rounds {
			for j := range 2 {
				k := (i + j) % 2
				tool := tools()[k]
				p := filepath.Join(t.TempDir(), "repo")
				if r := runCmd(t, nil, tool.bin, "--repo="+p, "init", "--mode="+mode); r.code != 0 {
					t.Fatalf("%s init: %s", tool.name, r.stderr)
				}
				// Flush the page cache's dirty pages first, so one tool's
				// writeback does not land on the other's clock.
				syscall.Sync()
				res := runCmd(t, nil, tool.bin, "--repo="+p, "commit", "-b", benchRef, "-s", "Go distribution",
					"--timestamp=2024-01-01T00:00:00Z", "--tree=dir="+goroot)
				if res.code != 0 {
					t.Fatalf("%s commit: exit %d\n%s", tool.name, res.code, res.stderr)
				}
				runs[k] = append(runs[k], res)
				ls := runCmd(t, nil, "ostree", "--repo="+p, "ls", "-d", "-C", benchRef, "/")
				trees[k] = ls.stdout
			}
		}
		if trees[0] != trees[1] {
			t.Errorf("commit/%s: root differs: ostree %q, repofs %q", mode, trees[0], trees[1])
		}
		printRatioRow("Commit/"+mode, runs)
	}
}
