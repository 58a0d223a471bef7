package repo

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/repo/gvariant"
)

// builder writes objects straight into a new archive repository, so tests
// can make repositories no honest writer would: hostile names, loops.
type builder struct {
	t    *testing.T
	path string
}

func newBuilder(t *testing.T) *builder {
	t.Helper()
	p := t.TempDir()
	for _, d := range []string{"objects", "refs/heads", "refs/remotes", "state", "tmp"} {
		if err := os.MkdirAll(filepath.Join(p, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(p, "config"), []byte("[core]\nrepo_version=1\nmode=archive-z2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &builder{t, p}
}

func (b *builder) put(data []byte, ext string, c Checksum) Checksum {
	b.t.Helper()
	h := c.String()
	p := filepath.Join(b.path, "objects", h[:2], h[2:]+"."+ext)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return c
}

func (b *builder) meta(data []byte, ext string) Checksum {
	return b.put(data, ext, sha256.Sum256(data))
}

// file stores a regular file (target == "") or a symlink.
func (b *builder) file(content, target string, mode uint32) Checksum {
	fi := &FileInfo{Mode: mode, Target: target, Size: uint64(len(content))}
	sum := sha256.New()
	sum.Write(contentStreamPrefix(fi))
	sum.Write([]byte(content))
	var c Checksum
	sum.Sum(c[:0])
	h := gvariant.FileHeader{Size: fi.Size, Mode: mode, Target: target}
	hdr := gvariant.EncodeArchiveHeader(h)
	var out bytes.Buffer
	binary.Write(&out, binary.BigEndian, uint32(len(hdr)))
	out.Write([]byte{0, 0, 0, 0})
	out.Write(hdr)
	if target == "" {
		zw, _ := flate.NewWriter(&out, 6)
		zw.Write([]byte(content))
		zw.Close()
	}
	return b.put(out.Bytes(), "filez", c)
}

func (b *builder) dirmeta() Checksum {
	return b.meta(gvariant.EncodeDirMeta(gvariant.DirMeta{Mode: 040755}), "dirmeta")
}

func (b *builder) tree(files map[string]Checksum, dirs map[string]Checksum) Checksum {
	var t gvariant.DirTree
	for _, n := range sortedKeys(files) {
		c := files[n]
		t.Files = append(t.Files, gvariant.TreeFile{Name: n, Checksum: c[:]})
	}
	m := b.dirmeta()
	for _, n := range sortedKeys(dirs) {
		c := dirs[n]
		t.Dirs = append(t.Dirs, gvariant.TreeDir{Name: n, Tree: c[:], Meta: m[:]})
	}
	return b.meta(gvariant.EncodeDirTree(t), "dirtree")
}

func (b *builder) rawTree(t gvariant.DirTree) Checksum {
	return b.meta(gvariant.EncodeDirTree(t), "dirtree")
}

func (b *builder) commit(root Checksum, parent *Checksum, subject string) Checksum {
	m := b.dirmeta()
	c := gvariant.Commit{Subject: subject, Timestamp: 1704067200, RootTree: root[:], RootMeta: m[:]}
	if parent != nil {
		c.Parent = parent[:]
	}
	return b.meta(gvariant.EncodeCommit(c), "commit")
}

func (b *builder) ref(name string, c Checksum) {
	b.t.Helper()
	p := filepath.Join(b.path, "refs", "heads", filepath.FromSlash(name))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(c.String()+"\n"), 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *builder) open() *Repo {
	b.t.Helper()
	r, err := Open(b.path)
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

func sortedKeys(m map[string]Checksum) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}
