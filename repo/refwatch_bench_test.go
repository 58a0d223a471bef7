package repo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkWatchFirstLook measures the first look of a watch at a
// mirror's refs/ (REPOFS_SCALE_REFS Flathub-shaped refs, default 20000):
// every ref read and every directory watched, the first event delivered.
func BenchmarkWatchFirstLook(b *testing.B) {
	n := 20000
	if v := os.Getenv("REPOFS_SCALE_REFS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	r := scaleRepoForBench(b, n)
	cpu0 := processCPU()
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		got := 0
		r.WatchRefs(ctx, WatchOptions{}, func(ev RefEvent) {
			if ev.Err == nil {
				got = len(ev.Changes)
				cancel()
			}
		})
		if got != n {
			b.Fatalf("first look: %d refs, want %d", got, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/ref")
	b.ReportMetric((processCPU()-cpu0)/float64(b.N)/float64(n), "cpu-ns/ref")
}

// BenchmarkWatchLoadAll measures a lazy watch (REPOFS_SCALE_REFS
// Flathub-shaped refs, default 20000) loading every directory from another
// goroutine, as a walk of a mount does: ns/dir per load, from the request
// to its event delivered.
func BenchmarkWatchLoadAll(b *testing.B) {
	n := 20000
	if v := os.Getenv("REPOFS_SCALE_REFS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	r := scaleRepoForBench(b, n)
	dirs := 0
	cpu0 := processCPU()
	for b.Loop() {
		w := startBenchWatch(r)
		for {
			batch := w.take(1)
			if len(batch) == 0 {
				break
			}
			dirs++
			if err := w.l.Load(context.Background(), batch[0]); err != nil {
				b.Fatal(err)
			}
		}
		if refs := w.stop(); refs != n {
			b.Fatalf("loaded %d refs, want %d", refs, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(dirs), "ns/dir")
	b.ReportMetric((processCPU()-cpu0)/float64(dirs), "cpu-ns/dir")
}

// benchWatch is a lazy watch of a repository whose events are counted:
// the refs they report, and the stubs not taken yet.
type benchWatch struct {
	l     *RefLoader
	mu    sync.Mutex
	stubs []string
	refs  int
	stop  func() int // ends the watch, returns the refs reported
}

// startBenchWatch starts a lazy watch of r and returns once refs/ itself
// was read.
func startBenchWatch(r *Repo) *benchWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &benchWatch{l: NewRefLoader()}
	first := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.WatchRefs(ctx, WatchOptions{Loader: w.l, Poll: time.Hour}, func(ev RefEvent) {
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, c := range ev.Changes {
				if c.Dir {
					w.stubs = append(w.stubs, c.Name)
				} else {
					w.refs++
				}
			}
			if slices.Contains(ev.Loaded, "") {
				once.Do(func() { close(first) })
			}
		})
	}()
	w.stop = func() int {
		cancel()
		<-done
		return w.refs
	}
	<-first
	return w
}

// take removes up to n stubs and returns them (a copy: later events
// append where they were). Once none is left, their array goes, so that
// it is not counted in a heap measured after.
func (w *benchWatch) take(n int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	batch := slices.Clone(w.stubs[max(0, len(w.stubs)-n):])
	w.stubs = w.stubs[:len(w.stubs)-len(batch)]
	if len(w.stubs) == 0 {
		w.stubs = nil
	}
	return batch
}

// processCPU is the process's user and system time so far, in
// nanoseconds: a figure that other processes' load changes little.
func processCPU() float64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}

func scaleRepoForBench(b *testing.B, n int) *Repo {
	p := b.TempDir()
	for _, d := range []string{"objects", "refs/heads", "refs/remotes", "refs/mirrors", "state", "tmp"} {
		os.MkdirAll(filepath.Join(p, d), 0o755)
	}
	os.WriteFile(filepath.Join(p, "config"), []byte("[core]\nrepo_version=1\nmode=bare-user\n"), 0o644)
	c := Checksum{1}
	for i := range n {
		f := filepath.Join(p, "refs", "heads", "app", fmt.Sprintf("org.example.App%06d", i), "x86_64", "stable")
		os.MkdirAll(filepath.Dir(f), 0o755)
		os.WriteFile(f, []byte(c.String()+"\n"), 0o644)
	}
	r, err := Open(p)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkWatchMemory measures what a lazy watch keeps once every
// directory of a mirror's refs/ (REPOFS_SCALE_REFS Flathub-shaped refs,
// default 20000) was loaded, 32 directories at a time as a walk of a
// mount reads ahead: the live heap after a collection, in bytes per ref
// (B/ref), against the heap before the watch started. The events' refs
// are counted, not kept. REPOFS_HEAP_PROFILE=FILE writes the heap's
// profile then, to see what holds it.
func BenchmarkWatchMemory(b *testing.B) {
	n := 20000
	if v := os.Getenv("REPOFS_SCALE_REFS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	r := scaleRepoForBench(b, n)
	var perRef float64
	for b.Loop() {
		heap := func() uint64 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		before := heap()
		w := startBenchWatch(r)
		for {
			batch := w.take(32)
			if len(batch) == 0 {
				break
			}
			if err := w.l.LoadAll(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
		w.mu.Lock()
		refs := w.refs
		w.mu.Unlock()
		if refs != n {
			b.Fatalf("loaded %d refs, want %d", refs, n)
		}
		perRef = float64(heap()-before) / float64(n)
		if f := os.Getenv("REPOFS_HEAP_PROFILE"); f != "" {
			out, _ := os.Create(f)
			pprof.WriteHeapProfile(out)
			out.Close()
		}
		w.stop()
	}
	b.ReportMetric(perRef, "B/ref")
}
