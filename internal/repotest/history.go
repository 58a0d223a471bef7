package repotest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// History is a repository with branching history made by the real ostree.
type History struct {
	Path string
	Main []string // commits of main, oldest first
	Side []string // commits of side, oldest first; Side[0]'s parent is Main[2]
	// Orphan is a commit no ref reaches, with detached metadata and a
	// commitpartial marker.
	Orphan string
}

// NewHistory builds, with ostree, a repository of mode with: main (6
// commits, one file added and one changed per commit, so commits share
// most objects), side (3 commits branched from main's third, the last
// with detached metadata), a remote-tracking ref origin:main at main's
// fifth, a commit no ref reaches, static deltas to main and to an old
// commit, and a commit on main with detached metadata. Timestamps are one
// day apart from 2024-01-01.
func NewHistory(t testing.TB, mode string) *History {
	t.Helper()
	RequireOstree(t)
	h := &History{Path: filepath.Join(t.TempDir(), "repo")}
	Init(t, h.Path, mode)
	src := t.TempDir()
	day := 0
	next := func() string { day++; return fmt.Sprintf("2024-01-%02dT00:00:00Z", day) }
	write := func(name, data string) {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("shared/big", string(Pseudorandom("big", 20000)))
	for i := range 6 {
		write(fmt.Sprintf("d%d/f", i), fmt.Sprintf("file %d\n", i))
		write("changing", fmt.Sprintf("version %d\n", i))
		o := CommitOpts{Subject: fmt.Sprintf("main %d", i), Timestamp: next()}
		if i == 4 {
			o.Extra = []string{"--add-detached-metadata-string=note=main4"}
		}
		h.Main = append(h.Main, Commit(t, h.Path, "main", src, o))
	}
	for i := range 3 {
		write(fmt.Sprintf("side/s%d", i), fmt.Sprintf("side %d\n", i))
		o := CommitOpts{Subject: fmt.Sprintf("side %d", i), Timestamp: next()}
		if i == 0 {
			o.Extra = []string{"--parent=" + h.Main[2]}
		}
		if i == 2 {
			o.Extra = []string{"--add-detached-metadata-string=note=side2"}
		}
		h.Side = append(h.Side, Commit(t, h.Path, "side", src, o))
	}
	write("orphan", "only the orphan has this\n")
	h.Orphan = Commit(t, h.Path, "tmp", src, CommitOpts{Subject: "orphan", Timestamp: next(),
		Extra: []string{"--add-detached-metadata-string=note=orphan"}})
	Ostree(t, "--repo="+h.Path, "refs", "--delete", "tmp")
	if err := os.MkdirAll(filepath.Join(h.Path, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.Path, "state", h.Orphan+".commitpartial"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	Ostree(t, "--repo="+h.Path, "refs", "--create=origin:main", h.Main[4])
	Ostree(t, "--repo="+h.Path, "static-delta", "generate", "--to="+h.Main[5])
	Ostree(t, "--repo="+h.Path, "static-delta", "generate", "--from="+h.Main[0], "--to="+h.Main[1])
	return h
}
