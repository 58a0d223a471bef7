package delta

import "github.com/repofs/repofs/internal/bufpool"

// Buffers of the objects a part builds, and of bspatch, are reused: a part
// of thousands of objects otherwise allocated as many bytes as it
// produced, and the collector ran every few megabytes. They come from the
// shared pools up to maxPooled; larger ones, few, would sit in the pools
// rounded up to a power of two and raise the peak RSS more than they save.
const maxPooled = 256 << 10

// getBuf returns an empty buffer of capacity at least n.
func getBuf(n uint64) []byte {
	if n > maxPooled {
		return make([]byte, 0, n)
	}
	return bufpool.Get(int(n))[:0]
}

// putBuf gives back a buffer from getBuf that nothing reads any more.
func putBuf(b []byte) {
	if cap(b) <= maxPooled {
		bufpool.Put(b)
	}
}
