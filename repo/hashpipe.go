package repo

import (
	"hash"
	"sync"
)

// asyncHashMin is the payload size from which hashing runs beside
// decompression instead of after it: on a large archive file, inflate and
// SHA-256 each take a core's worth of time, and a second goroutine lets them
// overlap. Below it the goroutine is not worth its cost.
const asyncHashMin = 1 << 20

const hashChunk = 64 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, hashChunk); return &b }}

// hashPipe feeds a hash from its own goroutine.
type hashPipe struct {
	h    hash.Hash
	ch   chan *[]byte
	done chan struct{}
	cur  *[]byte
	shut bool
}

func newHashPipe(h hash.Hash) *hashPipe {
	p := &hashPipe{h: h, ch: make(chan *[]byte, 4), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for b := range p.ch {
			p.h.Write(*b)
			*b = (*b)[:0]
			chunkPool.Put(b)
		}
	}()
	return p
}

func (p *hashPipe) Write(b []byte) {
	for len(b) > 0 {
		if p.cur == nil {
			p.cur = chunkPool.Get().(*[]byte)
		}
		c := *p.cur
		n := min(len(b), cap(c)-len(c))
		c = append(c, b[:n]...)
		*p.cur = c
		b = b[n:]
		if len(c) == cap(c) {
			p.ch <- p.cur
			p.cur = nil
		}
	}
}

// Sum waits for the hash to catch up and returns it.
func (p *hashPipe) Sum(dst []byte) []byte {
	p.close()
	return p.h.Sum(dst)
}

// close stops the goroutine; it is safe to call more than once.
func (p *hashPipe) close() {
	if p.shut {
		return
	}
	p.shut = true
	if p.cur != nil && len(*p.cur) > 0 {
		p.ch <- p.cur
		p.cur = nil
	}
	close(p.ch)
	<-p.done
}
