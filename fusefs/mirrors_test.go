package fusefs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
)

// TestLiveMirrorRefs creates, moves and deletes refs/mirrors/ refs with the
// real ostree, in a repository whose refs/mirrors did not exist when it was
// mounted, and checks each change shows through inotify alone.
func TestLiveMirrorRefs(t *testing.T) {
	repotest.RequireOstree(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, repoPath, "archive")
	// Repositories made before collection IDs have no refs/mirrors.
	if err := os.Remove(filepath.Join(repoPath, "refs", "mirrors")); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("1")}})
	first := repotest.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("2")}})
	second := repotest.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	// No safety-net poll: only the watcher can make a change visible.
	_, mp := testMountWith(t, repoPath, MountOptions{Options: Options{RefPoll: time.Hour}})

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
	var lat []time.Duration
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		start := time.Now()
		for !ok() {
			// Well under RefPoll, so it was the watcher.
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s: not visible after 5s", what)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	points := func(c string) func() bool {
		return func() bool {
			target, err := os.Readlink(link)
			return err == nil && target == "../../../../commits/"+c
		}
	}

	repotest.Ostree(t, "--repo="+repoPath, "refs", "--collections", "--create=org.example.Os:os/main", first)
	waitFor("new mirror ref (and refs/mirrors itself)", points(first))
	if b, err := os.ReadFile(filepath.Join(link, "v")); err != nil || string(b) != "1" {
		t.Errorf("read through the mirror ref: %q %v", b, err)
	}
	repotest.Ostree(t, "--repo="+repoPath, "refs", "--collections", "--force", "--create=org.example.Os:os/main", second)
	waitFor("moved mirror ref", points(second))
	if b, err := os.ReadFile(filepath.Join(link, "v")); err != nil || string(b) != "2" {
		t.Errorf("read through the moved mirror ref: %q %v", b, err)
	}
	repotest.Ostree(t, "--repo="+repoPath, "refs", "--collections", "--create=org.example.Other:x", first)
	waitFor("second collection", func() bool {
		_, err := os.Lstat(filepath.Join(mp, "refs", "mirrors", "org.example.Other", "x"))
		return err == nil
	})
	repotest.Ostree(t, "--repo="+repoPath, "refs", "--collections", "--delete", "org.example.Os")
	waitFor("deleted mirror ref", func() bool {
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
	slices.Sort(lat)
	t.Logf("mirror ref change visible after: min %v, median %v, max %v", lat[0], lat[len(lat)/2], lat[len(lat)-1])
}
