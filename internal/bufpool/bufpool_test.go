package bufpool

import "testing"

func TestGet(t *testing.T) {
	for _, tc := range []struct{ n, cap int }{
		{0, 256}, {1, 256}, {256, 256}, {257, 512}, {4096, 4096}, {4097, 8192},
		{1 << 20, 1 << 20}, {4 << 20, 4 << 20}, {4<<20 + 1, 4<<20 + 1},
	} {
		b := Get(tc.n)
		if len(b) != tc.n || cap(b) != tc.cap || b == nil {
			t.Errorf("Get(%d): len %d cap %d, want cap %d", tc.n, len(b), cap(b), tc.cap)
		}
		Put(b)
	}
}

// TestPutReuses: a buffer put back serves the next Get of its class (the
// pool may drop it, so a few tries), and never one of another class.
func TestPutReuses(t *testing.T) {
	reused := false
	for range 100 {
		b := Get(3000)
		b[0] = 42
		p := &b[:1][0]
		Put(b)
		c := Get(2500)
		if cap(c) != 4096 {
			t.Fatalf("Get(2500): cap %d", cap(c))
		}
		if &c[:1][0] == p {
			reused = true
		}
		Put(c)
		if d := Get(5000); cap(d) != 8192 {
			t.Fatalf("Get(5000): cap %d", cap(d))
		}
	}
	if !reused {
		t.Error("a buffer put back was never handed out again")
	}
	Put(make([]byte, 300))   // not a class: ignored
	Put(make([]byte, 8<<20)) // too large: ignored
	Put(nil)                 // ignored
}
