package gvariant

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Golden objects in testdata/ were made by ostree 2022.7 from the tree of
// ostree-format.md §11; their names are their checksums.
func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestRealObjects(t *testing.T) {
	tests := []struct {
		file   string
		decode func([]byte) error
	}{
		{"446a0ef11b7cc167f3b603e585c7eeeeb675faa412d5ec73f62988eb0b6c5488.dirmeta", func(b []byte) error {
			m, err := DecodeDirMeta(b)
			if err == nil && (m.Mode != 040755 || len(m.Xattrs) != 0) {
				t.Errorf("dirmeta = %+v", m)
			}
			return err
		}},
		{"3de379fee6b058a4d1e63ae7e2626e34de1c81e2b20fd1aaae31e73d0718ed49.dirmeta", func(b []byte) error {
			m, err := DecodeDirMeta(b)
			if err == nil && (m.Mode != 040750 || len(m.Xattrs) != 2 || string(m.Xattrs[1].Name) != "user.b\x00" || string(m.Xattrs[1].Value) != "2") {
				t.Errorf("dirmeta = %+v", m)
			}
			return err
		}},
		{"230db4e51acc220a7118c2f5904c9e45b637e0ef4a6093ba58aab0c6e303ae51.dirtree", func(b []byte) error {
			d, err := DecodeDirTree(b)
			if err == nil && (len(d.Files) != 1 || d.Files[0].Name != "run.sh" || len(d.Dirs) != 0) {
				t.Errorf("dirtree = %+v", d)
			}
			return err
		}},
		{"859b5f700eff57cb4f2ecc005a0f3dcdcd9f4bb011b79fe10966671859f30525.dirtree", func(b []byte) error {
			d, err := DecodeDirTree(b)
			if err == nil && (len(d.Files) != 3 || d.Files[2].Name != "link" || len(d.Dirs) != 1 || d.Dirs[0].Name != "sub" ||
				hex.EncodeToString(d.Dirs[0].Meta) != "446a0ef11b7cc167f3b603e585c7eeeeb675faa412d5ec73f62988eb0b6c5488") {
				t.Errorf("dirtree = %+v", d)
			}
			return err
		}},
		{"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d.dirtree", func(b []byte) error {
			_, err := DecodeDirTree(b)
			return err
		}},
		{"6022252b0f14427e0042ab89ca1eb155f832fbc9132b86ae7e078ba51c37eff1.commit", func(b []byte) error {
			c, err := DecodeCommit(b)
			if err != nil {
				return err
			}
			v, _ := c.Metadata.Lookup("version")
			s, _ := v.String()
			rb, _ := c.Metadata.Lookup("ostree.ref-binding")
			if c.Subject != "Initial commit" || c.Body != "Body text" || c.Timestamp != 1704067200 || len(c.Parent) != 0 || s != "1.0" ||
				rb.Print() != "['test/main']" {
				t.Errorf("commit = %+v", c)
			}
			return nil
		}},
		{"2bef17425952e3cd138bf438b217479b4817b9fde55da0045cc5d275973690f4.filez", func(b []byte) error {
			h, err := DecodeArchiveHeader(b)
			if err == nil && (h.Size != 6 || h.Mode != 0100644 || len(h.Xattrs) != 1) {
				t.Errorf("header = %+v", h)
			}
			return err
		}},
		{"summary", func(b []byte) error {
			s, err := DecodeSummary(b)
			if err != nil {
				return err
			}
			if len(s.Refs) != 2 || s.Refs[0].Name != "test/main" || s.Refs[0].CommitSize != 158 || len(s.Metadata) != 4 {
				t.Errorf("summary = %+v", s)
			}
			if m, _ := s.Metadata.Lookup("ostree.summary.mode"); m.Print() != "'archive-z2'" {
				t.Errorf("mode = %s", m.Print())
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b := golden(t, tt.file)
			if strings.HasSuffix(tt.file, ".filez") {
				b = b[8 : 8+int(b[3])] // the header variant after its length prefix
			} else if name, _, ok := strings.Cut(tt.file, "."); ok && sum(b) != name {
				t.Fatalf("fixture checksum %s, want %s", sum(b), name)
			}
			if err := tt.decode(b); err != nil {
				t.Fatalf("decode: %v", err)
			}
		})
	}
}

func TestContentChecksum(t *testing.T) {
	// §4.2: hello.txt's content checksum over the (uuuusa(ayay)) header.
	h := FileHeader{Mode: 0100644, Xattrs: []Xattr{{[]byte("user.test\x00"), []byte("val")}}}
	hdr := EncodeFileHeader(h)
	if got, want := hex.EncodeToString(hdr), "000000000000000000"+"0081a4"+"0000000000757365722e746573740076616c0a0e11"; got[:6] == "" || len(hdr) != 0x21 {
		t.Fatalf("header %s (len %d), want len 33 (%s)", got, len(hdr), want)
	}
	stream := append([]byte{0, 0, 0, byte(len(hdr)), 0, 0, 0, 0}, hdr...)
	stream = append(stream, "hello\n"...)
	if got := sum(stream); got != "2bef17425952e3cd138bf438b217479b4817b9fde55da0045cc5d275973690f4" {
		t.Errorf("content checksum %s", got)
	}
	link := EncodeFileHeader(FileHeader{Mode: 0120777, Target: "hello.txt"})
	if got := sum(append([]byte{0, 0, 0, byte(len(link)), 0, 0, 0, 0}, link...)); got != "f66efa496a72379413c44593de510dc344beb045294f1a543da87b2b6118db35" {
		t.Errorf("symlink checksum %s", got)
	}
}

func TestOffsetSizes(t *testing.T) {
	// Containers around the 1-, 2- and 4-byte framing boundaries round-trip,
	// and the reader picks the same width the writer chose.
	for _, n := range []int{0, 1, 2, 100, 126, 127, 128, 250, 254, 255, 256, 3000, 32767, 70000} {
		v := Value{Type: "as"}
		for i := 0; i < n%50+1; i++ {
			v.Elems = append(v.Elems, Value{Type: "s", Str: strings.Repeat("x", n/(n%50+1))})
		}
		b := Encode(v)
		got, err := Decode("as", b)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(Encode(got), b) || len(got.Elems) != len(v.Elems) {
			t.Fatalf("n=%d: round trip differs", n)
		}
	}
	// A dirtree with thousands of entries needs 4-byte offsets.
	var d DirTree
	for i := 0; i < 3000; i++ {
		d.Files = append(d.Files, TreeFile{strings.Repeat("f", 8) + string(rune('a'+i%26)) + strings.Repeat("0", i%7), make([]byte, 32)})
	}
	b := EncodeDirTree(d)
	if len(b) <= 0xffff {
		t.Fatalf("dirtree of %d bytes, want > 64 KiB", len(b))
	}
	got, err := DecodeDirTree(b)
	if err != nil || len(got.Files) != 3000 {
		t.Fatalf("decode large dirtree: %v", err)
	}
}

func TestRejectNonNormal(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		data []byte
	}{
		{"bool 2", "b", []byte{2}},
		{"string without NUL", "s", []byte("abc")},
		{"string with inner NUL", "s", []byte("a\x00b\x00")},
		{"string bad utf8", "s", []byte("\xff\x00")},
		{"u32 short", "u", []byte{1, 2, 3}},
		{"as offset out of range", "as", []byte("a\x00\x09")},
		{"as wide offset", "as", []byte("a\x00\x02\x00")},
		{"variant bad type", "v", []byte("a\x00\x00z")},
		{"variant no type", "v", []byte("abc")},
		{"padding not zero", "(yt)", []byte{1, 9, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}},
		{"au not multiple", "au", []byte{1, 2, 3, 4, 5}},
		{"trailing junk in tuple", "(ss)", []byte("a\x00b\x00\x00\x02")},
		{"deep variants", "v", bytes.Repeat([]byte{0, 'v'}, 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.typ, tt.data)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%s, %x) = %v, want ErrInvalid", tt.typ, tt.data, err)
			}
		})
	}
}

func TestPrint(t *testing.T) {
	tests := []struct {
		v    Value
		want string
	}{
		{XattrsValue(nil), "@a(ayay) []"},
		{XattrsValue([]Xattr{{[]byte("user.test\x00"), []byte("val")}}), "[(b'user.test', [byte 0x76, 0x61, 0x6c])]"},
		{XattrsValue([]Xattr{{[]byte("user.q\x00"), []byte("it's\x00")}}), `[(b'user.q', b"it's")]`},
		{XattrsValue([]Xattr{{[]byte("user.e\x00"), []byte("a\n\"\xc3\xa9\x00")}}), `[(b'user.e', b'a\n\"\303\251')]`},
		{XattrsValue([]Xattr{{[]byte("user.e\x00"), nil}}), `[(b'user.e', @ay [])]`},
		{Value{Type: "s", Str: "it's"}, `"it's"`},
		{Value{Type: "s", Str: "a\tb\\é\u200b"}, `'a\tb\\é\u200b'`},
		{Value{Type: "t", Num: 5}, "uint64 5"},
		{Value{Type: "u", Num: 1 << 24}, "uint32 16777216"},
		{Value{Type: "i", Num: 0xffffffff}, "-1"},
		{Value{Type: "b", Num: 1}, "true"},
		{Value{Type: "as", Elems: []Value{{Type: "s", Str: "a"}, {Type: "s", Str: "b"}}}, "['a', 'b']"},
		{Value{Type: "(s)", Elems: []Value{{Type: "s", Str: "a"}}}, "('a',)"},
		{Value{Type: "v", Elems: []Value{{Type: "u", Num: 7}}}, "<uint32 7>"},
		{Value{Type: "a{sv}"}, "@a{sv} {}"},
		{Value{Type: "a{sv}", Elems: []Value{{Type: "{sv}", Elems: []Value{{Type: "s", Str: "k"}, {Type: "v", Elems: []Value{{Type: "b"}}}}}}}, "{'k': <false>}"},
		{Value{Type: "mu"}, "@mu nothing"},
		{Value{Type: "d", Num: 0x3ff0000000000000}, "1.0"},
	}
	for _, tt := range tests {
		if got := Print(tt.v, true); got != tt.want {
			t.Errorf("Print(%s) = %s, want %s", tt.v.Type, got, tt.want)
		}
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	m := Metadata{
		{"version", StringVariant("1.0")},
		{"ostree.ref-binding", StringsVariant([]string{"test/main"})},
		{"ts", Uint64BEVariant(1704067200)},
		{"b", BoolVariant(true)},
		{"bytes", BytesVariant([]byte{1, 2, 3})},
	}
	b := EncodeMetadata(m)
	got, err := DecodeMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(m) {
		t.Fatalf("got %d entries", len(got))
	}
	for i := range m {
		if got[i].Key != m[i].Key || got[i].Value.Type != m[i].Value.Type || !bytes.Equal(got[i].Value.Data, m[i].Value.Data) {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], m[i])
		}
	}
	if ts, _ := got[2].Value.Uint64BE(); ts != 1704067200 {
		t.Errorf("ts = %d", ts)
	}
}
