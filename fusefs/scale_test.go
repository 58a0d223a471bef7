package fusefs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"
)

// TestRefsScaleMemory mounts a repository with Flathub-shaped refs
// (REPOFS_SCALE_REFS, default 20000), looks up one ref, walks refs/ with
// find, and reports how long the mount took to serve, the lookup and the
// walk, and the heap it holds after the walk, per ref.
// REPOFS_HEAP_PROFILE names a file to write the heap profile to;
// REPOFS_SCALE_PRELOAD=1 reads every directory of refs/ before the walk.
//
//	REPOFS_BENCH=1 go test -run TestRefsScaleMemory -v ./fusefs/
func TestRefsScaleMemory(t *testing.T) {
	if os.Getenv("REPOFS_BENCH") != "1" {
		t.Skip("set REPOFS_BENCH=1 to measure the refs of a mount at scale")
	}
	n := 20000
	if v := os.Getenv("REPOFS_SCALE_REFS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	repoPath := flathubRepo(t, n)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()
	start := time.Now()
	m, mp := mountForTest(t, repoPath, MountOptions{})
	ready := time.Since(start)
	if os.Getenv("REPOFS_SCALE_PRELOAD") == "1" {
		// Every directory read before the walk: what remains of it is
		// the round trips alone.
		m.FS.refs.readBelow(t.Context(), "", 8)
	}
	start = time.Now()
	last := filepath.Join(mp, "refs", "heads", "app", fmt.Sprintf("org.example.App%06d", n-1), "x86_64", "stable")
	if _, err := os.Lstat(last); err != nil {
		t.Fatal(err)
	}
	lookup := time.Since(start)
	mounted := heap()
	var finds [2]time.Duration
	var reqs [2]uint64
	for i := range finds {
		r0 := m.Requests()
		start = time.Now()
		if out, err := exec.Command("find", filepath.Join(mp, "refs"), "-type", "l", "-printf", ".").Output(); err != nil || len(out) != n+1 {
			t.Fatalf("find: %d refs, %v", len(out), err)
		}
		finds[i] = time.Since(start)
		for op, c := range m.Requests() {
			reqs[i] += c - r0[op]
		}
	}
	walked := heap()
	t.Logf("%d refs: ready %v, first lookup of a ref %v, find %v (%d requests), again %v (%d); heap %.0f B/ref mounted, %.0f B/ref after find",
		n, ready, lookup, finds[0], reqs[0], finds[1], reqs[1], float64(mounted-before)/float64(n), float64(walked-before)/float64(n))
	if p := os.Getenv("REPOFS_HEAP_PROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
}
