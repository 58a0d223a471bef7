// Package bufpool recycles byte buffers by capacity class. Reads and pulls
// go through thousands of object-sized buffers in bursts (.filez objects
// read whole, decoded payloads, fetched bodies, inflated files), and
// allocating each made a good part of their garbage. There is one pool per
// power of two, so that a pooled buffer fits every later request of its
// class, rather than one pool whose buffers all grow to the largest.
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	minLog = 8  // 256 bytes: the smallest capacity handed out
	maxLog = 22 // 4 MiB: larger buffers are rare, and not kept
)

var pools [maxLog + 1]sync.Pool // of *[]byte, indexed by log2 of the capacity

// Get returns a buffer of n bytes whose capacity is n rounded up to a power
// of two (n itself above 4 MiB). Its bytes are stale: the caller
// overwrites them.
func Get(n int) []byte {
	k := max(minLog, bits.Len(uint(max(n, 1)-1)))
	if k > maxLog {
		return make([]byte, n)
	}
	if bp, ok := pools[k].Get().(*[]byte); ok {
		return (*bp)[:n]
	}
	return make([]byte, n, 1<<k)
}

// Put takes back a buffer Get returned; the caller must not use it after.
// A buffer of another capacity, or a large one, is left to the collector.
func Put(b []byte) {
	c := cap(b)
	if c < 1<<minLog || c > 1<<maxLog || c&(c-1) != 0 {
		return
	}
	b = b[:0]
	pools[bits.Len(uint(c))-1].Put(&b)
}
