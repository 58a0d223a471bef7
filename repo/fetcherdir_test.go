package repo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestArchiveObjectPath(t *testing.T) {
	c, _ := ParseChecksum("ab" + "cd0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab")
	for _, tc := range []struct {
		t    ObjectType
		want string
	}{
		{ObjFile, "objects/ab/cd0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab.filez"},
		{ObjCommit, "objects/ab/cd0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab.commit"},
		{ObjCommitMeta, "objects/ab/cd0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab.commitmeta"},
	} {
		if got := ArchiveObjectPath(c, tc.t); got != tc.want {
			t.Errorf("ArchiveObjectPath(%s) = %s, want %s", tc.t.Ext(), got, tc.want)
		}
	}
}

// TestFetcherDir: a fetcher directory has libostree's name, holds partial
// downloads named by object, and is reused, with them, once released.
func TestFetcherDir(t *testing.T) {
	ctx := context.Background()
	t.Setenv("OSTREE_BOOTID", "testboot")
	r, err := Init(filepath.Join(t.TempDir(), "repo"), ModeArchive)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.AllocateFetcherDir(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Reused || filepath.Dir(d.Path) != filepath.Join(r.Path(), "tmp") || !strings.HasPrefix(d.Name, "fetcher-testboot-") {
		t.Fatalf("fresh fetcher dir: %+v", d.Dir)
	}
	c := Checksum{0xab}
	p := d.PartialPath(c)
	if p != filepath.Join(d.Path, c.String()+".filez") {
		t.Errorf("PartialPath = %s", p)
	}
	if err := os.WriteFile(p, []byte("part"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := r.AllocateFetcherDir(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Remove()
	if !again.Reused || again.Path != d.Path {
		t.Fatalf("after release: %+v, want reuse of %s", again.Dir, d.Path)
	}
	if b, err := os.ReadFile(again.PartialPath(c)); err != nil || string(b) != "part" {
		t.Errorf("partial download after reuse: %q, %v", b, err)
	}
}
