package main

import (
	"testing"
)

// TestOstreeMegabytes: size options read as g_ascii_strtoull cut to 32
// bits, in ostree's megabytes, warning about anything but digits.
func TestOstreeMegabytes(t *testing.T) {
	for _, tc := range []struct {
		v    string
		set  bool
		want uint64
		warn bool
	}{
		{"", false, 7, false},
		{"12", true, 12e6, false},
		{"0", true, 0, false},
		{"abc", true, 0, true},
		{"", true, 0, true},
		{"12abc", true, 12e6, true},
		{" 12", true, 12e6, true},
		{"+3", true, 3e6, true},
		{"-1", true, 4294967295e6, true},
		{"5000000000", true, 705032704e6, true},
		{"99999999999999999999", true, 4294967295e6, true},
	} {
		var warn []string
		got := ostreeMegabytes(&warn, "max-chunk-size", tc.v, tc.set, 7)
		if got != tc.want || (len(warn) > 0) != tc.warn {
			t.Errorf("%q (set %v): %d bytes, warnings %q; want %d, warning %v", tc.v, tc.set, got, warn, tc.want, tc.warn)
		}
	}
}
