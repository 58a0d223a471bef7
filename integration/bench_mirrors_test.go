package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
)

// TestPullMirrorsRatio measures `repofs pull` of the workload from nginx
// through a mirror list of three (the first dead: it refuses connections;
// the other two live) against a pull from one live nginx, alternated in
// the same run. The mirror list costs what it must: a refused connection,
// once, before the dead mirror is skipped.
//
//	REPOFS_BENCH=1 go test -run TestPullMirrorsRatio -v ./integration/
func TestPullMirrorsRatio(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure a pull through mirrors")
	}
	w := benchWorkload(t)
	src := w.repos["archive"]
	if r := runCmd(t, nil, "ostree", "--repo="+src, "summary", "-u"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	one := repotest.StartNginx(t, src, repotest.NginxOpts{})
	two := repotest.StartNginx(t, src, repotest.NginxOpts{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/"
	l.Close()
	lists := t.TempDir()
	if err := os.WriteFile(filepath.Join(lists, "mirrors"), []byte(dead+"\n"+one.URL+"\n"+two.URL+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	listSrv := repotest.StartNginx(t, lists, repotest.NginxOpts{})
	cases := []struct{ name, url string }{
		{"one server", one.URL},
		{"3 mirrors, 1 dead", "mirrorlist=" + listSrv.URL + "/mirrors"},
	}
	const rounds = 3
	var walls [2][]time.Duration
	for i := range rounds {
		for j := range 2 {
			k := (i + j) % 2
			p := filepath.Join(t.TempDir(), "client")
			for _, args := range [][]string{
				{"--repo=" + p, "init", "--mode=archive"},
				{"--repo=" + p, "remote", "add", "--no-gpg-verify", "origin", cases[k].url},
			} {
				if _, errs, code := repofs(t, args...); code != 0 {
					t.Fatalf("repofs %v: %s", args, errs)
				}
			}
			syscall.Sync()
			res := runCmd(t, nil, repofsBin, "--repo="+p, "pull", "-q", "origin", benchRef)
			if res.code != 0 {
				t.Fatalf("pull (%s): exit %d\n%s", cases[k].name, res.code, res.stderr)
			}
			walls[k] = append(walls[k], res.wall)
			if i == 0 {
				if r := runCmd(t, nil, "ostree", "--repo="+p, "fsck", "-q"); r.code != 0 {
					t.Errorf("%s: ostree fsck: %s", cases[k].name, r.stderr)
				}
			}
		}
	}
	med := func(d []time.Duration) time.Duration {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
		return s[len(s)/2]
	}
	a, b := med(walls[0]), med(walls[1])
	fmt.Printf("pull of %s from nginx (archive, loopback), median of %d alternating runs\n", benchRef, rounds)
	fmt.Printf("%-20s %10v\n%-20s %10v\nratio %.2f\n", cases[0].name, a.Round(time.Millisecond), cases[1].name, b.Round(time.Millisecond), float64(b)/float64(a))
}
