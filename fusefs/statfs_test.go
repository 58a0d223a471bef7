package fusefs

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// TestBlocks: st_blocks counts 512-byte units of the size, rounded up,
// so du through the mount adds up what the files hold.
func TestBlocks(t *testing.T) {
	repoPath, c := testrepo.NewRepo(t, "bare-user", []repotest.Entry{
		{Path: "empty", Kind: repotest.File, Data: []byte{}},
		{Path: "one", Kind: repotest.File, Size: 1},
		{Path: "512", Kind: repotest.File, Size: 512},
		{Path: "513", Kind: repotest.File, Size: 513},
		{Path: "big", Kind: repotest.File, Size: 1<<20 + 1},
		{Path: "dir/f", Kind: repotest.File, Size: 10},
		{Path: "link", Kind: repotest.Symlink, Target: "one"},
	})
	_, mp := testMount(t, repoPath)
	root := filepath.Join(mp, "commits", c)
	for name, want := range map[string]int64{"empty": 0, "one": 1, "512": 1, "513": 2, "big": 2049, "dir": 8, "link": 0} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, name), &st); err != nil {
			t.Fatal(err)
		}
		if st.Blocks != want {
			t.Errorf("%s: st_blocks %d (size %d), want %d", name, st.Blocks, st.Size, want)
		}
	}
}

// TestStatfs: the mount reports the size and free space of the
// repository's file system, and the read-only flag.
func TestStatfs(t *testing.T) {
	repoPath, c := testrepo.NewRepo(t, "bare-user", []repotest.Entry{{Path: "f", Kind: repotest.File, Size: 10}})
	_, mp := testMount(t, repoPath)
	var want unix.Statfs_t
	if err := unix.Statfs(repoPath, &want); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{mp, filepath.Join(mp, "commits", c), filepath.Join(mp, "refs")} {
		var got unix.Statfs_t
		if err := unix.Statfs(p, &got); err != nil {
			t.Fatal(err)
		}
		if got.Blocks != want.Blocks || got.Bsize != want.Bsize || got.Files != want.Files {
			t.Errorf("%s: %d blocks of %d, %d inodes; want the repository's %d of %d, %d", p, got.Blocks, got.Bsize, got.Files, want.Blocks, want.Bsize, want.Files)
		}
		// Others write to the same file system meanwhile: close, not equal.
		if slack := want.Blocks / 100; got.Bavail == 0 || got.Bavail+slack < want.Bavail || got.Bavail > want.Bavail+slack {
			t.Errorf("%s: %d blocks available, want about the repository's %d", p, got.Bavail, want.Bavail)
		}
		if want.Ffree > 0 && got.Ffree == 0 {
			t.Errorf("%s: no free inodes, the repository's file system has %d", p, want.Ffree)
		}
		if got.Flags&unix.ST_RDONLY == 0 {
			t.Errorf("%s: flags %#x, want ST_RDONLY", p, got.Flags)
		}
	}
}
