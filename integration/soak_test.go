package integration

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
)

// TestSoakMount leaves a mount running as it would be left in production:
// --pull --interval=1s against a local server that publishes a new commit
// every 2 s, while 6 readers hash the files of whatever commit the ref
// shows and compare them with what was committed. It reports wrong bytes,
// errors, and the mount's RSS and goroutines at the start and the end.
// Ten minutes by default; REPOFS_SOAK=2m shortens it.
//
//	REPOFS_BENCH=1 REPOFS_SOAK=2m go test -run TestSoakMount -v -timeout 30m ./integration/
func TestSoakMount(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to soak a mount with background pulls")
	}
	repotest.RequireOstree(t)
	soak := 10 * time.Minute
	if v := os.Getenv("REPOFS_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("REPOFS_SOAK=%s: %v", v, err)
		}
		soak = d
	}
	src := filepath.Join(t.TempDir(), "src")
	repotest.Init(t, src, "archive")
	tree := t.TempDir()
	pub := newPublisher(t, src, tree)
	pub.publish(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer srv.Close()
	client := filepath.Join(t.TempDir(), "client")
	for _, args := range [][]string{
		{"--repo=" + client, "init", "--mode=bare-user"},
		{"--repo=" + client, "remote", "add", "--no-gpg-verify", "origin", srv.URL},
	} {
		if _, stderr, code := repofs(t, args...); code != 0 {
			t.Fatalf("repofs %v: %s", args, stderr)
		}
	}
	mp := t.TempDir()
	cmd, stderr := startMount(t, client, mp, "refs/remotes/origin/main", "--pull=origin:main", "--interval=1s")

	var wrong, errs, files, bytes atomic.Int64
	var firstErr sync.Once
	var errMsg atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 6; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, b, w, err := pub.verifyOnce(mp)
				files.Add(n)
				bytes.Add(b)
				wrong.Add(w)
				if err != nil {
					errs.Add(1)
					firstErr.Do(func() { errMsg.Store(err.Error()) })
				}
			}
		}()
	}
	usage := func() (rss int64, goroutines string) {
		rss = peakRSSNow(cmd.Process.Pid)
		before := strings.Count(stderr.String(), "msg=\"fuse requests\"")
		cmd.Process.Signal(syscall.SIGUSR1)
		logged := func() bool { return strings.Count(stderr.String(), "msg=\"fuse requests\"") > before }
		if !waitUntil(t, 10*time.Second, logged) {
			return rss, "?"
		}
		all := regexp.MustCompile(`goroutines=(\d+)`).FindAllStringSubmatch(stderr.String(), -1)
		return rss, all[len(all)-1][1]
	}
	// The start: once the readers have warmed the caches.
	warm := time.Now().Add(min(soak/10, 30*time.Second))
	tick := time.NewTicker(2 * time.Second) // the publishing pace, not a synchronisation
	defer tick.Stop()
	var startRSS int64
	var startG string
	for end := time.Now().Add(soak); time.Now().Before(end); {
		<-tick.C
		pub.publish(t)
		if startRSS == 0 && time.Now().After(warm) {
			startRSS, startG = usage()
		}
	}
	endRSS, endG := usage() // like the start: readers running
	close(stop)
	wg.Wait()
	idleRSS, idleG := usage()
	pulled := strings.Count(stderr.String(), "msg=pulled")
	failed := strings.Count(stderr.String(), "background pull failed")
	t.Logf("soak %v: %d commits published, %d pulls logged, %d failed; readers: %d files, %s verified, %d wrong, %d errors",
		soak, pub.n, pulled, failed, files.Load(), mib(bytes.Load()), wrong.Load(), errs.Load())
	t.Logf("mount RSS %s -> %s (idle %s); goroutines %s -> %s (idle %s)", mib(startRSS), mib(endRSS), mib(idleRSS), startG, endG, idleG)
	if wrong.Load() != 0 || errs.Load() != 0 {
		t.Errorf("%d wrong files, %d errors; first: %v", wrong.Load(), errs.Load(), errMsg.Load())
	}
	if failed != 0 {
		t.Errorf("%d background pulls failed; stderr:\n%s", failed, stderr)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 30*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// peakRSSNow is the process's resident set size now (VmRSS).
func peakRSSNow(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	var kb int64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%d", &kb)
		}
	}
	return kb * 1024
}

// publisher commits new versions of a tree of 100 files (512 B to 64 KiB):
// each commit rewrites a quarter of them. It remembers every file's hash
// in every commit, by commit checksum.
type publisher struct {
	src, tree string
	n         int
	mu        sync.Mutex
	commits   map[string]map[string][32]byte // commit → file → sha256
	current   map[string][32]byte
}

func newPublisher(t *testing.T, src, tree string) *publisher {
	return &publisher{src: src, tree: tree, commits: map[string]map[string][32]byte{}, current: map[string][32]byte{}}
}

func (p *publisher) publish(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(p.n), 26))
	for k := 0; k < 100; k++ {
		if p.n > 0 && k%4 != p.n%4 {
			continue
		}
		data := make([]byte, 512+rng.IntN(64<<10))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		name := fmt.Sprintf("d%d/f%03d", k%5, k)
		if err := os.MkdirAll(filepath.Join(p.tree, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p.tree, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		p.current[name] = sha256.Sum256(data)
	}
	c := repotest.Commit(t, p.src, "main", p.tree, repotest.CommitOpts{Subject: fmt.Sprint(p.n)})
	snapshot := make(map[string][32]byte, len(p.current))
	for k, v := range p.current {
		snapshot[k] = v
	}
	p.mu.Lock()
	p.commits[c] = snapshot
	p.mu.Unlock()
	repotest.Ostree(t, "--repo="+p.src, "summary", "-u") // published only now
	p.n++
}

// verifyOnce reads every file of the commit the ref shows and counts the
// ones whose bytes differ from what was committed.
func (p *publisher) verifyOnce(mp string) (files, bytes, wrong int64, err error) {
	target, err := os.Readlink(filepath.Join(mp, "refs/remotes/origin/main"))
	if err != nil {
		return 0, 0, 0, err
	}
	c := filepath.Base(target)
	p.mu.Lock()
	want, ok := p.commits[c]
	p.mu.Unlock()
	if !ok {
		return 0, 0, 0, fmt.Errorf("the ref shows %s, which was never published", c)
	}
	root := filepath.Join(mp, "commits", c)
	for name, sum := range want {
		f, err := os.Open(filepath.Join(root, name))
		if err != nil {
			return files, bytes, wrong, err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return files, bytes, wrong, fmt.Errorf("read %s in %s: %w", name, c, err)
		}
		files++
		bytes += n
		if [32]byte(h.Sum(nil)) != sum {
			wrong++
		}
	}
	return files, bytes, wrong, nil
}
