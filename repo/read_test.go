package repo

import (
	"crypto/sha256"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repofs/repofs/repo/gvariant"
)

func TestHostileDirTrees(t *testing.T) {
	b := newBuilder(t)
	f := b.file("x", "", 0100644)
	d := b.tree(nil, nil)
	m := b.dirmeta()
	file := func(n string) gvariant.TreeFile { return gvariant.TreeFile{Name: n, Checksum: f[:]} }
	dir := func(n string) gvariant.TreeDir { return gvariant.TreeDir{Name: n, Tree: d[:], Meta: m[:]} }
	tests := []struct {
		name string
		tree gvariant.DirTree
		want string
	}{
		{"dotdot file", gvariant.DirTree{Files: []gvariant.TreeFile{file("..")}}, "invalid filename '..'"},
		{"dot dir", gvariant.DirTree{Dirs: []gvariant.TreeDir{dir(".")}}, "invalid filename '.'"},
		{"slash", gvariant.DirTree{Files: []gvariant.TreeFile{file("../afile")}}, "invalid / in filename '../afile'"},
		{"a/b", gvariant.DirTree{Dirs: []gvariant.TreeDir{dir("a/b")}}, "invalid / in filename"},
		{"empty", gvariant.DirTree{Files: []gvariant.TreeFile{file("")}}, "empty filename"},
		{"duplicate", gvariant.DirTree{Files: []gvariant.TreeFile{file("a"), file("a")}}, "duplicate name 'a'"},
		{"unsorted", gvariant.DirTree{Files: []gvariant.TreeFile{file("b"), file("a")}}, "names not sorted"},
		{"file and dir", gvariant.DirTree{Files: []gvariant.TreeFile{file("a")}, Dirs: []gvariant.TreeDir{dir("a")}}, "both a file and a directory"},
		{"short checksum", gvariant.DirTree{Files: []gvariant.TreeFile{{Name: "a", Checksum: f[:31]}}}, "checksum of 31 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := b.rawTree(tt.tree)
			r := b.open()
			_, err := r.ReadDirTree(c)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), c.String()+".dirtree") {
				t.Fatalf("ReadDirTree = %v, want ErrCorrupt naming %s and saying %q", err, c, tt.want)
			}
			// Reached through a commit, the walk fails the same way.
			root := RootNode(&Commit{RootTree: c, RootMeta: m})
			if _, err := r.Lookup(root, "/a"); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Lookup = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestResolveConfinesSymlinks(t *testing.T) {
	b := newBuilder(t)
	secret := b.file("inside\n", "", 0100644)
	sub := b.tree(map[string]Checksum{
		"up":     b.file("", "../../../../etc/secret", 0120777),
		"abs":    b.file("", "/etc/secret", 0120777),
		"loop":   b.file("", "loop", 0120777),
		"chain1": b.file("", "chain2", 0120777),
		"chain2": b.file("", "/etc/secret", 0120777),
		"todir":  b.file("", "..", 0120777),
	}, nil)
	etc := b.tree(map[string]Checksum{"secret": secret}, nil)
	root := b.tree(nil, map[string]Checksum{"etc": etc, "sub": sub})
	c := b.commit(root, nil, "s")
	r := b.open()
	commit, err := r.ReadCommit(c)
	if err != nil {
		t.Fatal(err)
	}
	rn := RootNode(commit)
	for _, p := range []string{"/sub/up", "/sub/abs", "/sub/chain1", "sub/todir/etc/secret", "/../../etc/secret"} {
		n, err := r.Resolve(rn, p)
		if err != nil || n.Content != secret {
			t.Errorf("Resolve(%s) = %+v, %v; want the commit's own /etc/secret", p, n, err)
		}
	}
	if _, err := r.Resolve(rn, "/sub/loop"); !errors.Is(err, ErrLoop) {
		t.Errorf("Resolve(loop) = %v, want ErrLoop", err)
	}
	if _, err := r.Lookup(rn, "/sub/abs/x"); !errors.Is(err, ErrNotDir) {
		t.Errorf("Lookup through a symlink = %v, want ErrNotDir", err)
	}
	if _, err := r.Lookup(rn, "/nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup(/nope) = %v, want ErrNotFound", err)
	}
	n, err := r.Lookup(rn, "/sub/abs")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := r.StatFile(n.Content)
	if err != nil || fi.Target != "/etc/secret" || !fi.IsSymlink() {
		t.Errorf("StatFile(abs) = %+v, %v", fi, err)
	}
}

func TestResolveRev(t *testing.T) {
	b := newBuilder(t)
	root := b.tree(map[string]Checksum{"f": b.file("1", "", 0100644)}, nil)
	c1 := b.commit(root, nil, "one")
	c2 := b.commit(root, &c1, "two")
	b.ref("main", c2)
	b.ref("deep/a/b", c1)
	r := b.open()
	tests := []struct {
		rev     string
		want    Checksum
		wantErr string
	}{
		{"main", c2, ""},
		{"main^", c1, ""},
		{"main^^", Checksum{}, "has no parent"},
		{c1.String(), c1, ""},
		{c2.String()[:10], c2, ""},
		{"deep/a/b", c1, ""},
		{"nope", Checksum{}, "Refspec 'nope' not found"},
		{"bad name", Checksum{}, "Invalid refspec bad name"},
		{"a//b", Checksum{}, "Invalid refspec"},
		{"-x", Checksum{}, "Invalid refspec"},
		{"deep/a", Checksum{}, "Refspec 'deep/a' not found"},
	}
	for _, tt := range tests {
		got, err := r.ResolveRev(tt.rev)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ResolveRev(%q) = %v, %v; want error %q", tt.rev, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ResolveRev(%q) = %v, %v; want %v", tt.rev, got, err, tt.want)
		}
	}
}

func TestContentCorruption(t *testing.T) {
	b := newBuilder(t)
	f := b.file(strings.Repeat("payload ", 1000), "", 0100644)
	r := b.open()
	read := func() error {
		_, rc, err := r.OpenFile(f)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(io.Discard, rc)
		return err
	}
	if err := read(); err != nil {
		t.Fatalf("intact object: %v", err)
	}
	p := r.objectPath(f, ObjFile)
	orig := readFile(t, p)
	for _, mut := range []struct {
		name string
		fn   func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-5] }},
		{"header flipped", func(b []byte) []byte { c := clone(b); c[20] ^= 1; return c }},
		{"payload flipped", func(b []byte) []byte { c := clone(b); c[len(c)-10] ^= 0x40; return c }},
		{"trailing junk", func(b []byte) []byte { return append(clone(b), 1, 2, 3) }},
		{"empty", func(b []byte) []byte { return nil }},
	} {
		writeFile(t, p, mut.fn(orig))
		err := read()
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), f.String()) {
			t.Errorf("%s: read = %v, want ErrCorrupt naming %s", mut.name, err, f)
		}
	}
}

// TestObjectPath: an object's path is objects/xx/rest.ext below the
// repository however its path was spelled, with .filez for the content of
// an archive repository.
func TestObjectPath(t *testing.T) {
	c := Checksum(sha256.Sum256([]byte("x")))
	h := c.String()
	dir := t.TempDir()
	for _, mode := range []Mode{ModeArchive, ModeBareUser} {
		p := filepath.Join(dir, mode.String())
		if _, err := Init(p, mode); err != nil {
			t.Fatal(err)
		}
		for _, spelled := range []string{p, p + "/", p + "//", filepath.Join(p, "objects") + "/..", dir + "/./" + mode.String()} {
			r, err := Open(spelled)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				t   ObjectType
				ext string
			}{{ObjCommit, "commit"}, {ObjDirTree, "dirtree"}, {ObjFile, map[Mode]string{ModeArchive: "filez", ModeBareUser: "file"}[mode]}} {
				want := filepath.Join(p, "objects", h[:2], h[2:]+"."+tc.ext)
				if got := r.objectPath(c, tc.t); got != want {
					t.Errorf("repository %q: objectPath(%s) = %q, want %q", spelled, tc.ext, got, want)
				}
			}
		}
	}
}
