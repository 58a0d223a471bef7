package repo

import (
	"errors"
	"testing"
	"time"

	"github.com/repofs/repofs/repo/gvariant"
)

func TestDecodeSummary(t *testing.T) {
	c := Checksum{1, 2, 3}
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	refMeta := gvariant.Metadata{
		{Key: "ostree.commit.timestamp", Value: gvariant.Uint64BEVariant(uint64(ts.Unix()))},
		{Key: "ostree.commit.version", Value: gvariant.StringVariant("1.0")},
	}
	data := gvariant.EncodeSummary(gvariant.Summary{
		Refs: []gvariant.SummaryRef{
			{Name: "a", CommitSize: 123, Checksum: clone32(c), Metadata: refMeta},
			{Name: "b", Checksum: clone32(c)}, // no metadata: no timestamp
		},
		Metadata: gvariant.Metadata{{Key: "ostree.summary.mode", Value: gvariant.StringVariant("archive-z2")}},
	})
	s, err := DecodeSummary(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Refs) != 2 || len(s.Metadata) != 1 {
		t.Fatalf("decoded %d refs, %d summary keys; want 2, 1", len(s.Refs), len(s.Metadata))
	}
	a, b := s.Refs[0], s.Refs[1]
	if a.Name != "a" || a.Commit != c || a.CommitSize != 123 || !a.Timestamp.Equal(ts) || len(a.Metadata) != 2 {
		t.Errorf("ref a: %+v", a)
	}
	if b.Name != "b" || b.Commit != c || !b.Timestamp.IsZero() {
		t.Errorf("ref b: %+v", b)
	}

	short := gvariant.EncodeSummary(gvariant.Summary{Refs: []gvariant.SummaryRef{{Name: "a", Checksum: c[:31]}}})
	for name, bad := range map[string][]byte{"truncated": data[:len(data)-3], "short checksum": short} {
		if _, err := DecodeSummary(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}
