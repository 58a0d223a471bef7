package repotest

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Fixture is a repository written by ostree with every kind of entry the
// formats can express, and a chain of commits.
type Fixture struct {
	Repo string // repository path
	Mode string
	// Refs maps each ref to its commit; Main is the ref with three
	// commits of history (Main^^ exists).
	Refs map[string]string
	Main string
	// Commits lists every commit, oldest first.
	Commits []string
	// Files and Dirs are absolute paths (in the commit) of the regular
	// files and directories of Main's tree, except most of the wide
	// directory's entries.
	Files, Dirs []string
}

// FixtureOpts tunes a fixture's size.
type FixtureOpts struct {
	// Large adds a file over 64 MiB (otherwise it is 3 MiB).
	Large bool
	// Wide is the number of entries of the wide directory; 0 means 3000,
	// enough for 4-byte GVariant framing offsets in its dirtree.
	Wide int
}

// FixtureEntries returns the source tree of a fixture's last commit.
func FixtureEntries(o FixtureOpts) []Entry {
	wide := o.Wide
	if wide == 0 {
		wide = 3000
	}
	big := int64(3<<20 + 17)
	if o.Large {
		big = 65<<20 + 17
	}
	es := []Entry{
		{Path: "hello.txt", Kind: File, Data: []byte("hello, world\n"), Xattrs: map[string]string{"user.b": "2", "user.a": "one"}},
		{Path: "empty", Kind: File},
		{Path: ".hidden", Kind: File, Data: []byte("dot\n")},
		{Path: "emptydir", Kind: Dir},
		{Path: "xdir", Kind: Dir, Mode: 0o750, Xattrs: map[string]string{"user.dir": "yes\x00bin"}},
		{Path: "xdir/suid", Kind: File, Data: []byte("#!/bin/sh\necho suid\n"), Mode: 0o4755},
		{Path: "xdir/sgid", Kind: File, Data: []byte("#!/bin/sh\necho sgid\n"), Mode: 0o2711},
		{Path: "sgiddir", Kind: Dir, Mode: 0o2775},
		{Path: "sticky", Kind: Dir, Mode: 0o1777},
		{Path: "sticky/file", Kind: File, Data: []byte("in sticky\n"), Mode: 0o600},
		{Path: "owned", Kind: File, Data: []byte("owned by 4242\n"), UID: 4242, GID: 4343},
		{Path: "owneddir", Kind: Dir, UID: 1000, GID: 1000},
		{Path: "link", Kind: Symlink, Target: "hello.txt"},
		{Path: "abs", Kind: Symlink, Target: "/etc/passwd"},
		{Path: "dangling", Kind: Symlink, Target: "no/such/file"},
		{Path: "dirlink", Kind: Symlink, Target: "deep/a"},
		{Path: "deep/a/b/c/file", Kind: File, Data: []byte("deep\n")},
		{Path: "deep/a/up", Kind: Symlink, Target: "../../hello.txt"},
		{Path: "with space/日本語 ファイル.txt", Kind: File, Data: []byte("utf-8 name\n")},
		{Path: "with space/tab\there", Kind: File, Data: []byte("tab\n")},
		{Path: "bin/run.sh", Kind: File, Data: []byte("#!/bin/sh\necho hi\n"), Mode: 0o755},
		{Path: "big.bin", Kind: File, Size: big},
		{Path: "wide", Kind: Dir},
	}
	for i := range wide {
		es = append(es, Entry{Path: fmt.Sprintf("wide/entry-%05d", i), Kind: File, Data: []byte(fmt.Sprintf("%d\n", i))})
	}
	return es
}

// NewFixture builds a fixture repository of mode with ostree under a test
// temp dir. It needs root (it chowns files) and the ostree CLI.
func NewFixture(t testing.TB, mode string, o FixtureOpts) *Fixture {
	t.Helper()
	RequireOstree(t)
	return BuildFixture(t, mode, o, Writer{Init: Init, Commit: Commit})
}

// Writer is what builds a fixture: ostree's CLI (Init, Commit) or repofs's
// own writer (package testrepo).
type Writer struct {
	Init   func(t testing.TB, path, mode string)
	Commit func(t testing.TB, repoPath, ref, dir string, o CommitOpts) string
}

// BuildFixture builds a fixture repository of mode with w under a test temp
// dir. It needs root (it chowns files).
func BuildFixture(t testing.TB, mode string, o FixtureOpts, w Writer) *Fixture {
	t.Helper()
	Init, Commit := w.Init, w.Commit
	f := &Fixture{Repo: filepath.Join(t.TempDir(), "repo"), Mode: mode, Refs: map[string]string{}, Main: "test/main"}
	Init(t, f.Repo, mode)
	src := t.TempDir()
	entries := FixtureEntries(o)

	// Three commits on Main, each adding to the tree.
	WriteTree(t, src, entries[:3])
	c1 := Commit(t, f.Repo, f.Main, src, CommitOpts{Subject: "First commit", Timestamp: "2024-01-01T10:00:00Z",
		Metadata: map[string]string{"version": "1.0"}})
	WriteTree(t, src, entries[3:12])
	c2 := Commit(t, f.Repo, f.Main, src, CommitOpts{Subject: "Second commit", Body: "A body\n\nwith two paragraphs.",
		Timestamp: "2024-02-01T10:00:00Z", Metadata: map[string]string{"version": "1.1"}})
	WriteTree(t, src, entries[12:])
	c3 := Commit(t, f.Repo, f.Main, src, CommitOpts{Subject: "Third commit", Body: "Everything.",
		Timestamp: "2024-03-01T10:00:00Z", Metadata: map[string]string{"version": "2.0", "custom": "x y"}})
	other := t.TempDir()
	WriteTree(t, other, []Entry{{Path: "only-in-other", Kind: File, Data: []byte("other\n")}, entries[0]})
	c4 := Commit(t, f.Repo, "test/other", other, CommitOpts{Subject: "Other"})
	c5 := Commit(t, f.Repo, "stable", other, CommitOpts{Subject: "Stable", Timestamp: "2023-06-01T00:00:00Z"})
	f.Commits = []string{c1, c2, c3, c4, c5}
	f.Refs = map[string]string{f.Main: c3, "test/other": c4, "stable": c5}

	f.Dirs = []string{"/"}
	for _, e := range entries {
		if strings.HasPrefix(e.Path, "wide/entry-") && !strings.HasSuffix(e.Path, "00") {
			continue
		}
		switch e.Kind {
		case File:
			f.Files = append(f.Files, "/"+e.Path)
		case Dir:
			f.Dirs = append(f.Dirs, "/"+e.Path)
		}
	}
	f.Dirs = append(f.Dirs, "/deep", "/deep/a", "/deep/a/b", "/deep/a/b/c", "/bin", "/with space")
	return f
}
