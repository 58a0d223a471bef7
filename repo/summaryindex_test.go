package repo

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The fixtures in testdata/summaryindex were written by flatpak 1.14
// (build-export for x86_64 and aarch64, build-update-repo with
// flatpak.summary-arches=x86_64), v2 after a new aarch64 commit.
const (
	fixtureOldArm = "ffd863a4f05278309eb8cf1f1fd24fd1812531858ee1261e3d1c0060eda78331"
	fixtureNewArm = "d1ddcf1c107d125242beaed2787290b62e44dd0fec61cde87c4e9d984d72cf4f"
	fixtureX86    = "898bd9497f9cc1a15a7d913d8ef03e95ca0bc3303f4e2d367ef8b2cbdc0063aa"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "summaryindex", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustChecksum(t testing.TB, s string) Checksum {
	t.Helper()
	c, err := ParseChecksum(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDecodeSummaryIndexFlatpak(t *testing.T) {
	ix, err := DecodeSummaryIndex(readFixture(t, "v2.idx"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Subsummary{}
	for _, s := range ix.Subsummaries {
		got[s.Name] = s
	}
	if len(got) != 2 || got["aarch64"].Digest != mustChecksum(t, fixtureNewArm) || got["x86_64"].Digest != mustChecksum(t, fixtureX86) {
		t.Fatalf("subsummaries %+v", ix.Subsummaries)
	}
	if h := got["aarch64"].History; len(h) != 1 || h[0] != mustChecksum(t, fixtureOldArm) {
		t.Fatalf("aarch64 history %v, want [%s]", h, fixtureOldArm)
	}
	if len(got["x86_64"].History) != 0 {
		t.Fatalf("x86_64 history %v, want none", got["x86_64"].History)
	}
	if !ix.IndexedDeltas() {
		t.Error("IndexedDeltas false; flatpak sets ostree.summary.indexed-deltas")
	}
}

func TestApplySummaryDiffFlatpak(t *testing.T) {
	old := readFixture(t, "ffd8.sub")
	want, err := InflateSubsummary(readFixture(t, "d1dd.gz"), mustChecksum(t, fixtureNewArm))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ApplySummaryDiff(old, readFixture(t, "ffd8-d1dd.delta"), mustChecksum(t, fixtureNewArm))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("delta result differs from the .gz")
	}
	s, err := DecodeSummary(got)
	if err != nil || len(s.Refs) != 1 || s.Refs[0].Name != "app/org.test.Hello/aarch64/stable" {
		t.Fatalf("subsummary %+v, %v", s, err)
	}
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func diffOf(ops []uint32, data string) []byte {
	d := []byte(summaryDiffMagic)
	d = binary.LittleEndian.AppendUint32(d, uint32(len(ops)))
	for _, op := range ops {
		d = binary.LittleEndian.AppendUint32(d, op)
	}
	return append(d, data...)
}

func TestApplySummaryDiffRejects(t *testing.T) {
	old := readFixture(t, "ffd8.sub")
	digest := mustChecksum(t, fixtureNewArm)
	for _, tc := range []struct {
		name  string
		delta []byte
	}{
		{"not gzip", []byte("xadf\x00\x00\x00\x00")},
		{"no header", gzipBytes(t, []byte("nope\x00\x00\x00\x00"))},
		{"ops beyond the end", gzipBytes(t, diffOf(nil, "")[:4])},
		{"op count too large", gzipBytes(t, append([]byte(summaryDiffMagic), 0xff, 0xff, 0xff, 0x3f))},
		{"reuse beyond old", gzipBytes(t, diffOf([]uint32{diffReuseOld<<28 | uint32(len(old)+1)}, ""))},
		{"data beyond the delta", gzipBytes(t, diffOf([]uint32{diffData<<28 | 5}, "abc"))},
		{"unknown op", gzipBytes(t, diffOf([]uint32{7 << 28}, ""))},
		{"wrong result", gzipBytes(t, diffOf([]uint32{diffReuseOld<<28 | uint32(len(old))}, ""))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ApplySummaryDiff(old, tc.delta, digest); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestInflateSubsummaryRejectsWrongDigest(t *testing.T) {
	if _, err := InflateSubsummary(readFixture(t, "d1dd.gz"), mustChecksum(t, fixtureOldArm)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err %v, want ErrCorrupt", err)
	}
}

func TestSubsummaryCacheKeepsLatest(t *testing.T) {
	r := &Repo{path: t.TempDir()}
	c := r.SubsummaryCache("flathub")
	old, oldD := readFixture(t, "ffd8.sub"), mustChecksum(t, fixtureOldArm)
	c.Store("aarch64", oldD, old)
	if got, ok := c.Read("aarch64", oldD); !ok || !bytes.Equal(got, old) {
		t.Fatal("stored subsummary not read back")
	}
	newer, _ := InflateSubsummary(readFixture(t, "d1dd.gz"), mustChecksum(t, fixtureNewArm))
	c.Store("aarch64", mustChecksum(t, fixtureNewArm), newer)
	if _, ok := c.Read("aarch64", oldD); ok {
		t.Error("older subsummary kept after a newer one was stored")
	}
	if _, ok := c.Read("aarch64", mustChecksum(t, fixtureNewArm)); !ok {
		t.Error("newer subsummary not cached")
	}
	// A file whose bytes do not match its name is dropped.
	os.WriteFile(c.path("x86_64", oldD), []byte("junk"), 0o644)
	if _, ok := c.Read("x86_64", oldD); ok {
		t.Error("corrupt cache file accepted")
	}
	if _, err := os.Stat(c.path("x86_64", oldD)); !errors.Is(err, os.ErrNotExist) {
		t.Error("corrupt cache file not removed")
	}
}

func FuzzDecodeSummaryIndex(f *testing.F) {
	for _, n := range []string{"v1.idx", "v2.idx"} {
		f.Add(readFixture(f, n))
	}
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeSummaryIndex(b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}

func FuzzApplySummaryDiff(f *testing.F) {
	f.Add(readFixture(f, "ffd8.sub"), readFixture(f, "ffd8-d1dd.delta"))
	f.Add([]byte("old"), gzipBytes(f, diffOf([]uint32{diffReuseOld<<28 | 2, diffData<<28 | 1}, "x")))
	digest := mustChecksum(f, fixtureNewArm)
	f.Fuzz(func(t *testing.T, old, delta []byte) {
		if _, err := ApplySummaryDiff(old, delta, digest); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}
