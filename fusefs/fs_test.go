package fusefs

import (
	"hash/fnv"
	"testing"
)

// TestIno: inode numbers are FNV-1a of the parts, each ended by a NUL
// (so that ("ab", "c") and ("a", "bc") differ), kept clear of the fixed
// inode numbers of the root, refs/ and commits/.
func TestIno(t *testing.T) {
	for _, parts := range [][]string{
		{"f", "0123abcd", "89ef"},
		{"d", "c", "/a/b"},
		{"ab", "c"},
		{"a", "bc"},
		{""},
		{"refdir", "heads/os/main"},
	} {
		h := fnv.New64a()
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
		want := h.Sum64()
		if want <= commitsIno {
			want += commitsIno + 1
		}
		if got := ino(parts...); got != want {
			t.Errorf("ino(%q) = %#x, want %#x", parts, got, want)
		}
	}
	if ino("ab", "c") == ino("a", "bc") {
		t.Error(`ino("ab", "c") == ino("a", "bc")`)
	}
}
