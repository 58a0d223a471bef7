package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// raceRounds is how many rounds TestPruneRacingPulls runs: a few in CI,
// 10 under REPOFS_BENCH=1, any number under REPOFS_PRUNE_RACE_ROUNDS.
func raceRounds(t *testing.T) int {
	if v := os.Getenv("REPOFS_PRUNE_RACE_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("REPOFS_PRUNE_RACE_ROUNDS=%q: want a positive number", v)
		}
		return n
	}
	if os.Getenv("REPOFS_BENCH") == "1" {
		return 10
	}
	return 3
}

// raceSource is an archive repository served over loopback HTTP with
// refs os/a, os/b and os/c whose trees share most of their files.
type raceSource struct {
	path, url string
	tree      string // the working tree committed from
}

// (Not "a", "b", "c": ostree's rev-parse takes those for checksum
// prefixes.)
var raceRefs = []string{"os/a", "os/b", "os/c"}

func newRaceSource(t *testing.T) *raceSource {
	t.Helper()
	s := &raceSource{path: filepath.Join(t.TempDir(), "src"), tree: t.TempDir()}
	repotest.Init(t, s.path, "archive")
	srv := httptest.NewServer(http.FileServer(http.Dir(s.path)))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// publish commits a new revision of every ref: the shared files stay, each
// ref's own files change with the round, so consecutive revisions and
// different refs overlap.
func (s *raceSource) publish(t *testing.T, round int) {
	t.Helper()
	for _, ref := range raceRefs {
		dir := filepath.Join(s.tree, filepath.Base(ref))
		os.RemoveAll(dir)
		var entries []repotest.Entry
		for i := range 12 {
			entries = append(entries, repotest.Entry{Path: fmt.Sprintf("shared/s%02d", i), Size: int64(1000 + 700*i)})
		}
		for i := range 6 {
			entries = append(entries, repotest.Entry{
				Path: fmt.Sprintf("own/%s%d", filepath.Base(ref), i),
				Data: []byte(strings.Repeat(fmt.Sprintf("%s %d %d\n", ref, round-i%2, i), 200)),
			})
		}
		entries = append(entries, repotest.Entry{Path: "round", Data: []byte(fmt.Sprintln(round))})
		repotest.WriteTree(t, dir, entries)
		repotest.Commit(t, s.path, ref, dir, repotest.CommitOpts{
			Subject: fmt.Sprintf("%s round %d", ref, round), Timestamp: fmt.Sprintf("@%d", 1700000000+round),
		})
	}
	repotest.Ostree(t, "--repo="+s.path, "summary", "-u")
}

// raceOutcome is how one racing command ended.
type raceOutcome struct {
	kind   string   // "repofs pull", "ostree prune", …
	who    string   // the command line
	refs   []string // the refs it pulls; nil for a prune
	code   int
	stderr string
	locked bool // failed for the lock alone
}

// TestPruneRacingPulls runs rounds of `repofs prune` and `ostree prune`
// racing three repofs pulls and one `ostree pull` of overlapping refs
// into one repository, whose refs are deleted just before, so each prune
// may delete what a pull is about to use. After every round `ostree
// fsck` is clean, each ref a pull wrote resolves to the source's commit,
// complete (no commitpartial marker), and no command failed except by
// lock timeout (exit 4 for repofs; ostree's "Locking repo" message).
//
//	REPOFS_PRUNE_RACE_ROUNDS=10 go test -run TestPruneRacingPulls -v ./integration/
func TestPruneRacingPulls(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range []string{"archive", "bare-user"} {
		t.Run(mode, func(t *testing.T) { testPruneRacingPulls(t, mode) })
	}
}

func testPruneRacingPulls(t *testing.T, mode string) {
	src := newRaceSource(t)
	client := filepath.Join(t.TempDir(), "client")
	for _, args := range [][]string{
		{"--repo=" + client, "init", "--mode=" + mode},
		{"--repo=" + client, "remote", "add", "--no-gpg-verify", "origin", src.url},
	} {
		if _, stderr, code := repofs(t, args...); code != 0 {
			t.Fatalf("repofs %v: %s", args, stderr)
		}
	}
	tally := map[string]int{} // "repofs pull", "ostree prune locked out", …
	for round := range raceRounds(t) {
		// Mostly low enough that a command stuck behind the others gives
		// up quickly, high enough that most get through; every third
		// round 0, so that many give up at once and must leave the
		// repository as clean as those that got through.
		timeout := "3"
		if round%3 == 1 {
			timeout = "0"
		}
		repotest.Ostree(t, "--repo="+client, "config", "set", "core.lock-timeout-secs", timeout)
		// Every other round publishes nothing new: the pulls then find
		// the commits they want still in objects/, unreferenced, while a
		// prune deletes them.
		if round%2 == 0 {
			src.publish(t, round)
		}
		want := map[string]string{}
		for _, ref := range raceRefs {
			want[ref] = strings.TrimSpace(repotest.Ostree(t, "--repo="+src.path, "rev-parse", ref))
		}
		if out, _, _ := ostreeCmd(t, "--repo="+client, "refs"); strings.TrimSpace(out) != "" {
			repotest.Ostree(t, append([]string{"--repo=" + client, "refs", "--delete"}, strings.Fields(out)...)...)
		}
		outcomes := raceRound(t, client)
		for _, o := range outcomes {
			noPanic(t, o.stderr)
			switch {
			case o.code == 0:
				tally[o.kind]++
			case o.locked:
				tally[o.kind+" locked out"]++
			default:
				t.Errorf("%s round %d: %s: exit %d, not a lock timeout:\n%s", mode, round, o.who, o.code, o.stderr)
			}
		}
		if _, stderr, code := ostreeCmd(t, "--repo="+client, "fsck"); code != 0 {
			t.Fatalf("%s round %d: ostree fsck: exit %d\n%s", mode, round, code, stderr)
		}
		checkRaceRefs(t, client, round, want, outcomes)
		if t.Failed() {
			for _, o := range outcomes {
				t.Logf("%s: exit %d\n%s", o.who, o.code, o.stderr)
			}
			return
		}
	}
	t.Logf("%s: outcomes over all rounds: %v", mode, tally)
	// A race where every command gave up tested nothing.
	for _, who := range []string{"repofs pull", "ostree pull", "repofs prune", "ostree prune"} {
		if tally[who] == 0 {
			t.Errorf("%s: no %s succeeded in any round", mode, who)
		}
	}
}

// raceRound starts the pulls and the prunes together and waits for all.
func raceRound(t *testing.T, client string) []raceOutcome {
	repo := "--repo=" + client
	cmds := []struct {
		refs []string
		bin  string
		args []string
	}{
		{raceRefs[0:2], repofsBin, []string{repo, "pull", "origin", raceRefs[0], raceRefs[1]}},
		{raceRefs[1:3], repofsBin, []string{repo, "pull", "origin", raceRefs[1], raceRefs[2]}},
		{[]string{raceRefs[2], raceRefs[0]}, repofsBin, []string{repo, "pull", "origin", raceRefs[2], raceRefs[0]}},
		{raceRefs, "ostree", append([]string{repo, "pull", "origin"}, raceRefs...)},
		{nil, repofsBin, []string{repo, "prune", "--refs-only", "--depth=0"}},
		{nil, "ostree", []string{repo, "prune", "--refs-only", "--depth=0"}},
	}
	outcomes := make([]raceOutcome, len(cmds))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := runCmd(t, nil, c.bin, c.args...)
			name := "repofs"
			if c.bin == "ostree" {
				name = "ostree"
			}
			o := raceOutcome{kind: name + " " + c.args[1], who: name + " " + strings.Join(c.args[1:], " "), refs: c.refs, code: r.code, stderr: r.stderr}
			if name == "repofs" {
				o.locked = r.code == 4
			} else {
				o.locked = r.code != 0 && strings.Contains(r.stderr, "Locking repo")
			}
			outcomes[i] = o
		}()
	}
	close(start)
	wg.Wait()
	return outcomes
}

// checkRaceRefs checks that every ref a successful pull wrote, and every
// ref there is, resolves to the source's commit, which is complete.
func checkRaceRefs(t *testing.T, client string, round int, want map[string]string, outcomes []raceOutcome) {
	t.Helper()
	check := map[string]bool{}
	for _, o := range outcomes {
		if o.code == 0 {
			for _, ref := range o.refs {
				check["origin:"+ref] = true
			}
		}
	}
	for _, rev := range strings.Fields(repotest.Ostree(t, "--repo="+client, "refs")) {
		check[rev] = true
	}
	for rev := range check {
		ref := strings.TrimPrefix(rev, "origin:")
		got, stderr, code := repofs(t, "--repo="+client, "rev-parse", rev)
		if code != 0 || strings.TrimSpace(got) != want[ref] {
			t.Errorf("round %d: repofs rev-parse %s: %q exit %d, want %s\n%s", round, rev, got, code, want[ref], stderr)
			continue
		}
		if _, err := os.Stat(filepath.Join(client, "state", want[ref]+".commitpartial")); err == nil {
			t.Errorf("round %d: %s names commit %s, still marked partial", round, rev, want[ref])
		}
		if _, stderr, code := ostreeCmd(t, "--repo="+client, "ls", "-R", rev); code != 0 {
			t.Errorf("round %d: ostree ls -R %s: exit %d\n%s", round, rev, code, stderr)
		}
	}
}
