// Package testrepo builds repositories for tests with repofs's own writer
// (repo.Init, a transaction, WriteDirectory, WriteCommit), where
// repotest builds them with the real ostree. Tests of the read side
// (fusefs, pull) use it so that they need no ostree; the interop tests keep
// using repotest to compare against what ostree wrote.
package testrepo

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
)

// defaultTime is the timestamp of a commit whose options give none, as
// repotest.Commit uses, so that fixtures are reproducible.
var defaultTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Init creates a repository of mode ("archive", "bare", "bare-user",
// "bare-user-only") at path.
func Init(t testing.TB, path, mode string) *repo.Repo {
	t.Helper()
	m, err := repo.ParseMode(mode)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(path, m)
	if err != nil {
		t.Fatalf("init %s: %v", path, err)
	}
	return r
}

// Commit commits dir to ref of the repository at repoPath, with the
// previous commit of ref (if any) as parent, and returns the new commit's
// checksum. o.Timestamp, when set, is RFC 3339; o.Extra is not supported.
func Commit(t testing.TB, repoPath, ref, dir string, o repotest.CommitOpts) string {
	t.Helper()
	if len(o.Extra) > 0 {
		t.Fatalf("testrepo.Commit: extra ostree arguments %q are not supported", o.Extra)
	}
	r, err := repo.Open(repoPath)
	if err != nil {
		t.Fatal(err)
	}
	ts := defaultTime
	if o.Timestamp != "" {
		if ts, err = time.Parse(time.RFC3339, o.Timestamp); err != nil {
			t.Fatalf("commit timestamp %q: %v", o.Timestamp, err)
		}
	}
	co := repo.CommitOptions{Subject: o.Subject, Body: o.Body, Timestamp: ts}
	keys := make([]string, 0, len(o.Metadata))
	for k := range o.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		co.Metadata = append(co.Metadata, gvariant.Entry{Key: k, Value: gvariant.StringVariant(o.Metadata[k])})
	}
	// As ostree commit -b binds every commit to its branch.
	co.Metadata = append(co.Metadata, gvariant.Entry{Key: "ostree.ref-binding", Value: gvariant.StringsVariant([]string{ref})})
	if parent, err := r.ResolveRev(ref); err == nil {
		co.Parent = &parent
	}
	ctx := context.Background()
	tx, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	tree, meta, err := tx.WriteDirectory(ctx, dir, repo.DirOptions{})
	if err != nil {
		t.Fatalf("commit %s: %v", dir, err)
	}
	c, err := tx.WriteCommit(co, tree, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.SetRef("", ref, c); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit %s: %v", dir, err)
	}
	return c.String()
}

// NewRepo makes a repository of mode, commits entries to ref "main" in it,
// and returns the repository's path and the commit, as repotest.NewRepo
// does with ostree.
func NewRepo(t testing.TB, mode string, entries []repotest.Entry) (repoPath, commit string) {
	t.Helper()
	repoPath = filepath.Join(t.TempDir(), "repo")
	Init(t, repoPath, mode)
	src := t.TempDir()
	repotest.WriteTree(t, src, entries)
	return repoPath, Commit(t, repoPath, "main", src, repotest.CommitOpts{})
}

// NewFixture builds repotest's fixture (every kind of entry, a chain of
// commits) with repofs's writer. It needs root (it chowns files).
func NewFixture(t testing.TB, mode string, o repotest.FixtureOpts) *repotest.Fixture {
	t.Helper()
	init := func(t testing.TB, path, mode string) { Init(t, path, mode) }
	return repotest.BuildFixture(t, mode, o, repotest.Writer{Init: init, Commit: Commit})
}
