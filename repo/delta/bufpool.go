package delta

import (
	"math/bits"
	"sync"
)

// Buffers of the objects a part builds, and of bspatch, are reused: a part
// of thousands of objects otherwise allocated (and the kernel zeroed) as
// many bytes as it produced, and the collector ran every few megabytes.
// Pool i holds buffers of capacity 4 KiB << i, up to 256 KiB: larger
// ones, few, would sit in the pools rounded up to a power of two and
// raise the peak RSS more than they save.
const (
	minPooled = 12 // 4 KiB
	maxPooled = 18 // 256 KiB
)

var bufPools [maxPooled - minPooled + 1]sync.Pool

// getBuf returns an empty buffer of capacity at least n; n over the
// largest pool gets a buffer of its own.
func getBuf(n uint64) []byte {
	if n > 1<<maxPooled {
		return make([]byte, 0, n)
	}
	i := max(bits.Len64(max(n, 1)-1), minPooled) - minPooled
	if b, ok := bufPools[i].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<(i+minPooled))
}

// putBuf gives back a buffer from getBuf that nothing reads any more.
func putBuf(b []byte) {
	c := uint64(cap(b))
	if c < 1<<minPooled || c > 1<<maxPooled || c&(c-1) != 0 {
		return
	}
	b = b[:0]
	bufPools[bits.Len64(c)-1-minPooled].Put(&b)
}
