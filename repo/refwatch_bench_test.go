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
		ctx, cancel := context.WithCancel(context.Background())
		l := NewRefLoader()
		var mu sync.Mutex
		var stubs []string
		refs := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.WatchRefs(ctx, WatchOptions{Loader: l, Poll: time.Hour}, func(ev RefEvent) {
				mu.Lock()
				defer mu.Unlock()
				for _, c := range ev.Changes {
					if c.Dir {
						stubs = append(stubs, c.Name)
					} else {
						refs++
					}
				}
			})
		}()
		for {
			mu.Lock()
			if len(stubs) == 0 && refs == n {
				mu.Unlock()
				break
			}
			var d string
			if len(stubs) > 0 {
				d, stubs = stubs[len(stubs)-1], stubs[:len(stubs)-1]
			}
			mu.Unlock()
			if d == "" {
				time.Sleep(time.Millisecond) // the first event is not in yet
				continue
			}
			dirs++
			if err := l.Load(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
		cancel()
		<-done
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(dirs), "ns/dir")
	b.ReportMetric((processCPU()-cpu0)/float64(dirs), "cpu-ns/dir")
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
		ctx, cancel := context.WithCancel(context.Background())
		l := NewRefLoader()
		var mu sync.Mutex
		var stubs []string
		refs := 0
		first := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.WatchRefs(ctx, WatchOptions{Loader: l, Poll: time.Hour}, func(ev RefEvent) {
				mu.Lock()
				defer mu.Unlock()
				for _, c := range ev.Changes {
					if c.Dir {
						stubs = append(stubs, c.Name)
					} else {
						refs++
					}
				}
				if slices.Contains(ev.Loaded, "") {
					close(first)
				}
			})
		}()
		<-first
		for {
			mu.Lock()
			batch := stubs[max(0, len(stubs)-32):]
			stubs = slices.Clone(stubs[:len(stubs)-len(batch)])
			mu.Unlock()
			if len(batch) == 0 {
				break
			}
			if err := l.LoadAll(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		if refs != n {
			b.Fatalf("loaded %d refs, want %d", refs, n)
		}
		stubs = nil
		perRef = float64(heap()-before) / float64(n)
		if f := os.Getenv("REPOFS_HEAP_PROFILE"); f != "" {
			out, _ := os.Create(f)
			pprof.WriteHeapProfile(out)
			out.Close()
		}
		cancel()
		<-done
	}
	b.ReportMetric(perRef, "B/ref")
}
