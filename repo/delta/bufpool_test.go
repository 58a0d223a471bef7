package delta

import (
	"bytes"
	"io"
	"testing"
)

// TestBufPool: a buffer holds what was asked for, pooled ones come back
// by their power-of-two class, and buffers the pools did not make (odd
// or huge capacities) are not taken in.
func TestBufPool(t *testing.T) {
	for _, n := range []uint64{0, 1, 4095, 4096, 4097, 64 << 10, 256 << 10, 256<<10 + 1, maxBuffered} {
		b := getBuf(n)
		if len(b) != 0 || uint64(cap(b)) < n {
			t.Errorf("getBuf(%d): len %d cap %d", n, len(b), cap(b))
		}
		if n <= 256<<10 && cap(b)&(cap(b)-1) != 0 {
			t.Errorf("getBuf(%d): pooled capacity %d is not a power of two", n, cap(b))
		}
		putBuf(b)
	}
	putBuf(make([]byte, 5000))  // not a class: dropped
	putBuf(make([]byte, 1<<20)) // over the largest class: dropped
	if b := getBuf(5000); cap(b) != 8<<10 {
		t.Errorf("getBuf(5000): cap %d, want the 8 KiB class", cap(b))
	}
}

// TestMemSource: reads within and past the end of a source in memory;
// a pooled source gives its buffer back once, however often it is
// closed, and reads nothing after.
func TestMemSource(t *testing.T) {
	data := []byte("the old version of a file")
	buf := append(getBuf(uint64(len(data))), data...)
	m := &memSource{b: buf, pooled: true}
	p := make([]byte, 7)
	if n, err := m.ReadAt(p, 4); n != 7 || err != nil || !bytes.Equal(p, data[4:11]) {
		t.Fatalf("ReadAt(4): %d %v %q", n, err, p[:n])
	}
	if n, err := m.ReadAt(p, int64(len(data))-3); n != 3 || err != io.EOF {
		t.Fatalf("ReadAt at the end: %d %v", n, err)
	}
	if n, err := m.ReadAt(p, -1); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt(-1): %d %v", n, err)
	}
	if m.Size() != int64(len(data)) {
		t.Fatalf("Size %d", m.Size())
	}
	m.Close()
	m.Close()
	if m.Size() != 0 || m.pooled {
		t.Fatalf("closed source still holds %d bytes (pooled %v)", m.Size(), m.pooled)
	}
}
