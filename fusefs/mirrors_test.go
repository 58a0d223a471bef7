package fusefs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// TestLiveMirrorRefs creates, moves and deletes refs/mirrors/ refs with the
// real ostree, in a repository whose refs/mirrors did not exist when it was
// mounted, and checks each change shows through the watch's notifications
// alone.
func TestLiveMirrorRefs(t *testing.T) {
	repotest.RequireOstree(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "archive")
	// Repositories made before collection IDs have no refs/mirrors.
	if err := os.Remove(filepath.Join(repoPath, "refs", "mirrors")); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("1")}})
	first := testrepo.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("2")}})
	second := testrepo.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	_, mp := testMountWith(t, repoPath, noPoll)

	ents, err := os.ReadDir(filepath.Join(mp, "refs"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"heads", "mirrors", "remotes"}; !slices.Equal(names, want) {
		t.Errorf("refs/ lists %v, want %v", names, want)
	}

	link := filepath.Join(mp, "refs", "mirrors", "org.example.Os", "os", "main")
	points := func(c string) func() bool {
		return func() bool {
			target, err := os.Readlink(link)
			return err == nil && target == "../../../../commits/"+c
		}
	}

	repotest.Ostree(t, "--repo="+repoPath, "refs", "--collections", "--create=org.example.Os:os/main", first)
	waitFor(t, "new mirror ref (and refs/mirrors itself)", points(first))
	if b, err := os.ReadFile(filepath.Join(link, "v")); err != nil || string(b) != "1" {
		t.Errorf("read through the mirror ref: %q %v", b, err)
	}
	repotest.Ostree(t, "--repo="+repoPath, "refs", "--collections", "--force", "--create=org.example.Os:os/main", second)
	waitFor(t, "moved mirror ref", points(second))
	if b, err := os.ReadFile(filepath.Join(link, "v")); err != nil || string(b) != "2" {
		t.Errorf("read through the moved mirror ref: %q %v", b, err)
	}
	repotest.Ostree(t, "--repo="+repoPath, "refs", "--collections", "--create=org.example.Other:x", first)
	waitFor(t, "second collection", func() bool {
		_, err := os.Lstat(filepath.Join(mp, "refs", "mirrors", "org.example.Other", "x"))
		return err == nil
	})
	repotest.Ostree(t, "--repo="+repoPath, "refs", "--collections", "--delete", "org.example.Os")
	waitFor(t, "deleted mirror ref", func() bool {
		_, err := os.Lstat(link)
		return errors.Is(err, os.ErrNotExist)
	})
	ents, err = os.ReadDir(filepath.Join(mp, "refs", "mirrors"))
	if err != nil || len(ents) != 1 || ents[0].Name() != "org.example.Other" {
		t.Errorf("refs/mirrors after the delete: %v %v", ents, err)
	}
	// ostree lists the same mirrored refs.
	out := repotest.Ostree(t, "--repo="+repoPath, "refs", "--collections")
	if !strings.Contains(out, "(org.example.Other, x)") {
		t.Errorf("ostree refs --collections:\n%s", out)
	}
}
