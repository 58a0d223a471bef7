package repotest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// DeltaOpts shape a DeltaSource.
type DeltaOpts struct {
	// Files is the number of small files of T (0: 300); Changed of them
	// are edited in T' (0: a third).
	Files, Changed int
	// Big is the size of a file of T edited in its middle in T' (0: 1 MiB).
	Big int64
	// Generate holds extra arguments for each `ostree static-delta
	// generate` (e.g. --inline, --min-fallback-size=0).
	Generate []string
	// NoScratch and NoFrom leave out the scratch delta to T' and the
	// delta T→T'.
	NoScratch, NoFrom bool
}

// DeltaSource is an archive repository made by ostree with a tree T and
// an update T' on ref "main", static deltas to T' made by `ostree
// static-delta generate`, and a summary listing them.
type DeltaSource struct {
	Repo     string
	From, To string // T and T'
}

// NewDeltaSource builds a DeltaSource under a test temp dir.
func NewDeltaSource(t testing.TB, o DeltaOpts) *DeltaSource {
	t.Helper()
	if o.Files == 0 {
		o.Files = 300
	}
	if o.Changed == 0 {
		o.Changed = o.Files / 3
	}
	if o.Big == 0 {
		o.Big = 1 << 20
	}
	ds := &DeltaSource{Repo: filepath.Join(t.TempDir(), "src")}
	Init(t, ds.Repo, "archive")
	src := t.TempDir()
	var es []Entry
	for i := range o.Files {
		es = append(es, Entry{Path: fmt.Sprintf("d%d/f%04d", i%7, i), Kind: File, Size: int64(100 + i*37%5000), Mode: []uint32{0o644, 0o755, 0o600}[i%3]})
	}
	es = append(es,
		Entry{Path: "big.bin", Kind: File, Size: o.Big},
		Entry{Path: "link", Kind: Symlink, Target: "d0/f0000"},
		Entry{Path: "x", Kind: File, Data: []byte("xattrs\n"), Xattrs: map[string]string{"user.a": "1"}},
		Entry{Path: "gone", Kind: File, Data: []byte("removed in T'\n")},
	)
	WriteTree(t, src, es)
	ds.From = Commit(t, ds.Repo, "main", src, CommitOpts{Subject: "T"})

	var edits []Entry
	for i := range o.Changed {
		p := fmt.Sprintf("d%d/f%04d", i%7, i)
		data := append(Pseudorandom(p, int64(100+i*37%5000)), fmt.Sprintf("edited %d\n", i)...)
		edits = append(edits, Entry{Path: p, Kind: File, Data: data, Mode: []uint32{0o644, 0o755, 0o600}[i%3]})
	}
	big := Pseudorandom("big.bin", o.Big)
	copy(big[len(big)/2:], "an edit in the middle of the big file")
	edits = append(edits,
		Entry{Path: "big.bin", Kind: File, Data: big},
		Entry{Path: "new/file", Kind: File, Data: []byte("new in T'\n")},
		Entry{Path: "link2", Kind: Symlink, Target: "big.bin"},
	)
	WriteTree(t, src, edits)
	if err := os.Remove(filepath.Join(src, "gone")); err != nil {
		t.Fatal(err)
	}
	ds.To = Commit(t, ds.Repo, "main", src, CommitOpts{Subject: "T'", Timestamp: "2024-02-01T00:00:00Z"})

	gen := append([]string{"--repo=" + ds.Repo, "static-delta", "generate"}, o.Generate...)
	if !o.NoScratch {
		Ostree(t, append(gen, "--empty", "--to="+ds.To)...)
	}
	if !o.NoFrom {
		Ostree(t, append(gen, "--from="+ds.From, "--to="+ds.To)...)
	}
	Ostree(t, "--repo="+ds.Repo, "summary", "-u")
	return ds
}
