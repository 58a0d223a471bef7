package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestPullRatios measures `repofs pull` against `ostree pull` of the
// workload from an archive repository served over HTTP on loopback, into
// fresh archive and bare-user repositories, in the same run:
//
//	REPOFS_BENCH=1 go test -run TestPullRatios -v ./integration/
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
	const rounds = 3
	fmt.Printf("workload: pull of %s from %s (archive, loopback HTTP) into fresh repositories; median of %d alternating runs\n", benchRef, srv.URL, rounds)
	printRatioHeader()
	for _, mode := range []string{"archive", "bare-user"} {
		var runs [2][]result
		var trees [2]string
		for i := range rounds {
			for j := range 2 {
				k := (i + j) % 2
				tool := tools()[k]
				p := filepath.Join(t.TempDir(), "client")
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
		if trees[0] != trees[1] || trees[0] == "" {
			t.Errorf("pulled trees differ: ostree %q, repofs %q", trees[0], trees[1])
		}
		printRatioRow("Pull/archive->"+mode, runs)
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

// TestCheckoutRatios measures `repofs checkout` against `ostree checkout`
// of the workload: -U from the archive repository (inflating every file)
// and from the bare repository (hardlinks).
//
//	REPOFS_BENCH=1 go test -run TestCheckoutRatios -v ./integration/
func TestCheckoutRatios(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure checkout against ostree")
	}
	w := benchWorkload(t)
	const rounds = 3
	fmt.Printf("workload: checkout of %s; median of %d alternating runs\n", benchRef, rounds)
	printRatioHeader()
	for _, c := range []struct {
		name, mode string
		args       []string
		ostreeArgs []string // for ostree only
	}{
		// ostree checks out -U from an archive repository by hardlinking
		// from the repository's uncompressed-objects-cache, which the
		// first such checkout fills; repofs has no such cache and
		// inflates every file. --disable-cache makes ostree inflate too.
		{"Checkout -U/archive", "archive", []string{"checkout", "-U"}, nil},
		{"Checkout -U/archive nocache", "archive", []string{"checkout", "-U"}, []string{"--disable-cache"}},
		{"Checkout/bare", "bare", []string{"checkout"}, nil},
	} {
		var runs [2][]result
		for i := range rounds {
			for j := range 2 {
				k := (i + j) % 2
				tool := tools()[k]
				dest := filepath.Join(t.TempDir(), "co")
				syscall.Sync()
				args := append([]string{"--repo=" + w.repos[c.mode]}, c.args...)
				if tool.name == "ostree" {
					args = append(args, c.ostreeArgs...)
				}
				res := runCmd(t, nil, tool.bin, append(args, benchRef, dest)...)
				if res.code != 0 {
					t.Fatalf("%s %v: exit %d\n%s", tool.name, args, res.code, res.stderr)
				}
				runs[k] = append(runs[k], res)
				os.RemoveAll(dest)
			}
		}
		printRatioRow(c.name, runs)
	}
}
