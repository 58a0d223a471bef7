package gvariant

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseText(t *testing.T) {
	cases := []struct {
		text, typ string
		data      []byte
	}{
		{`'a'`, "s", []byte("a\x00")},
		{`"x\ty"`, "s", []byte("x\ty\x00")},
		{`5`, "i", []byte{5, 0, 0, 0}},
		{`-1`, "i", []byte{0xff, 0xff, 0xff, 0xff}},
		{`byte 0x10`, "y", []byte{0x10}},
		{`uint16 010`, "q", []byte{8, 0}},
		{`true`, "b", []byte{1}},
		{`['a', 'b']`, "as", []byte("a\x00b\x00\x02\x04")},
		{`[1, 2.5]`, "ad", append(Encode(Value{Type: "d", Num: 0x3ff0000000000000}), Encode(Value{Type: "d", Num: 0x4004000000000000})...)},
		{`@as []`, "as", nil},
		{`(1,)`, "(i)", []byte{1, 0, 0, 0}},
		{`()`, "()", []byte{0}},
		{`<byte 1>`, "v", []byte{1, 0, 'y'}},
		{`{'k': <byte 1>}`, "a{sv}", []byte{'k', 0, 0, 0, 0, 0, 0, 0, 1, 0, 'y', 2, 0x0c}},
		{`@mi 5`, "mi", []byte{5, 0, 0, 0}},
		{`@mi nothing`, "mi", nil},
		{`b'ab'`, "ay", []byte("ab\x00")},
	}
	for _, c := range cases {
		v, err := ParseText(c.text)
		if err != nil {
			t.Errorf("%s: %v", c.text, err)
			continue
		}
		if got := Encode(v); v.Type != c.typ || !bytes.Equal(got, c.data) {
			t.Errorf("%s: %s %x, want %s %x", c.text, v.Type, got, c.typ, c.data)
		}
	}
	for _, bad := range []string{``, `[]`, `[1, 'a']`, `byte 256`, `int64 9223372036854775808`, `uint32 -1`, `'a' 'b'`, `@q 1.5`, `{1: 2, 'a': 3}`, `<`, `'\u12'`} {
		if v, err := ParseText(bad); !errors.Is(err, ErrText) {
			t.Errorf("%q: got %v %v, want ErrText", bad, v, err)
		}
	}
}

// FuzzParseText: no panic; whatever parses prints (annotated) as text
// that parses back to the same value.
func FuzzParseText(f *testing.F) {
	for _, s := range []string{`'s'`, `uint32 5`, `['a','b']`, `<(1, 'x')>`, `{'k': <1>}`, `true`, `@as []`,
		`@ms nothing`, `[1, 2.5]`, `b'x\0'`, `{'a', [<@ay []>]}`, `"\u00e9\U0001F600"`, `-0x8000`, `(((((1)))))`, `[inf, -inf, nan, -0.0]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseText(s)
		if err != nil {
			return
		}
		data := Encode(v)
		if _, err := Decode(v.Type, data); err != nil {
			t.Fatalf("%q: encodes to an invalid %s: %v", s, v.Type, err)
		}
		printed := Print(v, true)
		w, err := ParseTextAs(v.Type, printed)
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", s, printed, err)
		}
		if !bytes.Equal(Encode(w), data) {
			t.Fatalf("%q printed as %q parses to %x, not %x", s, printed, Encode(w), data)
		}
	})
}
