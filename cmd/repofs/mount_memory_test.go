package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestFollowLiveHeap: with more live than mountMemoryLimit, the soft
// limit rises above the live heap after a collection, so that the
// collector does not run back to back.
func TestFollowLiveHeap(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	debug.SetMemoryLimit(mountMemoryLimit)
	followLiveHeap()
	live := make([][]byte, 0, 160)
	for range 160 { // 160 MiB, in pieces the collector must trace
		live = append(live, make([]byte, 1<<20))
	}
	for deadline := time.Now().Add(10 * time.Second); debug.SetMemoryLimit(-1) < 200<<20; {
		if time.Now().After(deadline) {
			t.Fatalf("soft limit %d MiB with 160 MiB live", debug.SetMemoryLimit(-1)>>20)
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // finalizers run in their own goroutine
	}
	runtime.KeepAlive(live)
}
