package repo

import (
	"errors"
	"testing"
)

func TestKeyFileEscapes(t *testing.T) {
	for _, v := range []string{"", "plain", " lead", "\t\n \tx\ty\r", `back\slash`, "trail  ", "a;b;"} {
		k := &KeyFile{}
		k.SetString("g", "k", v)
		back, err := ParseKeyFile(k.Bytes())
		if err != nil {
			t.Fatalf("%q: reparse: %v", v, err)
		}
		got, err := back.GetString("g", "k")
		if err != nil || got != v {
			t.Errorf("set %q, read back %q, %v", v, got, err)
		}
	}
}

func TestKeyFileErrors(t *testing.T) {
	k, err := ParseKeyFile([]byte("[g]\nbad=a\\q\nend=a\\\n"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		group, key string
		want       error  // sentinel, or nil for an escape error
		msg        string // GLib's words
	}{
		{"h", "k", ErrKeyFileGroup, "Key file does not have group “h”"},
		{"g", "k", ErrKeyFileKey, "Key file does not have key “k” in group “g”"},
		{"g", "bad", nil, "Key file contains invalid escape sequence “\\q”"},
		{"g", "end", nil, "Key file contains escape character at end of line"},
	}
	for _, c := range cases {
		_, err := k.GetString(c.group, c.key)
		if err == nil || err.Error() != c.msg || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("get %s.%s: %v, want %q", c.group, c.key, err, c.msg)
		}
	}
	if err := k.Remove("g", "nope"); !errors.Is(err, ErrKeyFileKey) {
		t.Errorf("remove of a missing key: %v", err)
	}
	for _, bad := range []string{"k=v\n", "[g]\nnovalue\n", "[g\n", "[g]\n=v\n"} {
		if _, err := ParseKeyFile([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzParseKeyFile: no panic, what Bytes writes parses, and rewriting
// settles. Not at once: like GLib's writer, Bytes writes values raw, so a
// value that ends in "\r" (from a line ending in "\r\r") is written as a
// CRLF line, which parses with one "\r" less; each round drops one.
func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte("# c\n[core]\nrepo_version=1\n  mode = bare  \n[core]\nx=1\nx=2\n[remote \"o\"]\nurl=\\sx\n"))
	f.Add([]byte("[a]\r\nk=v\r\n\n[b]\n"))
	f.Add([]byte("[]\n0=0\r\r\r"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKeyFile(b)
		if err != nil {
			return
		}
		out := k.Bytes()
		for range len(b) + 2 {
			k2, err := ParseKeyFile(out)
			if err != nil {
				t.Fatalf("rewritten file does not parse: %v\n%q", err, out)
			}
			prev := out
			if out = k2.Bytes(); string(out) == string(prev) {
				return
			}
		}
		t.Fatalf("rewrite does not settle:\n%q", out)
	})
}
