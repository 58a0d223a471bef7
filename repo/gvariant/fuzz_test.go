package gvariant

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seed adds every golden object with the given suffix, plus hostile inputs.
func seed(f *testing.F, suffix string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"+suffix))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if strings.HasSuffix(p, ".filez") {
			b = b[8 : 8+int(b[3])]
		}
		f.Add(b)
	}
	for _, b := range [][]byte{nil, {0}, {0xff}, bytes.Repeat([]byte{0xff}, 300), []byte("..\x00\x00"), make([]byte, 70000)} {
		f.Add(b)
	}
}

// roundTrip checks that whatever a decoder accepts re-encodes to the input.
func roundTrip[T any](t *testing.T, data []byte, dec func([]byte) (T, error), enc func(T) []byte) {
	v, err := dec(data)
	if err != nil {
		return
	}
	if got := enc(v); !bytes.Equal(got, data) {
		t.Fatalf("accepted %x but re-encodes to %x", data, got)
	}
}

func FuzzDirTree(f *testing.F) {
	seed(f, ".dirtree")
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeDirTree, EncodeDirTree) })
}

func FuzzDirMeta(f *testing.F) {
	seed(f, ".dirmeta")
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeDirMeta, EncodeDirMeta) })
}

func FuzzCommit(f *testing.F) {
	seed(f, ".commit")
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeCommit, EncodeCommit) })
}

func FuzzArchiveHeader(f *testing.F) {
	seed(f, ".filez")
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, DecodeArchiveHeader, EncodeArchiveHeader)
		roundTrip(t, b, DecodeFileHeader, EncodeFileHeader)
	})
}

func FuzzSummary(f *testing.F) {
	seed(f, "summary")
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, DecodeSummary, EncodeSummary)
		roundTrip(t, b, DecodeMetadata, EncodeMetadata)
	})
}

func FuzzValue(f *testing.F) {
	for _, s := range []struct {
		typ  string
		data []byte
	}{
		{"a{sv}", EncodeMetadata(Metadata{{"k", StringsVariant([]string{"a", "b"})}})},
		{"v", []byte("x\x00\x00s")},
		{"(a(say)a(sayay))", []byte{0}},
		{"maas", []byte{0}},
		{"a(tuy)", make([]byte, 32)},
	} {
		f.Add(s.typ, s.data)
	}
	f.Fuzz(func(t *testing.T, typ string, b []byte) {
		v, err := Decode(typ, b)
		if err != nil {
			return
		}
		if got := Encode(v); !bytes.Equal(got, b) {
			t.Fatalf("accepted %s %x but re-encodes to %x", typ, b, got)
		}
		_ = Print(v, true)
	})
}

func FuzzSummaryIndex(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "summaryindex", "*.idx"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(f, "summary")
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, DecodeSummaryIndex, EncodeSummaryIndex)
	})
}
