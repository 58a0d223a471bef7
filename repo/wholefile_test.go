package repo

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// TestReadFileInto reads every file of commits made by the real ostree
// (zlib's DEFLATE, fixed and dynamic blocks) whole, compares them with
// OpenFile's stream, and checks its errors on damaged objects.
func TestReadFileInto(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range []string{"archive", "bare-user"} {
		t.Run(mode, func(t *testing.T) {
			p, c := repotest.NewRepo(t, mode, []repotest.Entry{
				{Path: "tiny", Kind: repotest.File, Data: []byte("hello hello hello\n")},
				{Path: "empty", Kind: repotest.File},
				{Path: "random", Kind: repotest.File, Data: repotest.Pseudorandom("r", 300<<10)},
				{Path: "text", Kind: repotest.File, Data: bytes.Repeat([]byte("func main() { return nil }\n"), 9000)},
				{Path: "link", Kind: repotest.Symlink, Target: "tiny"},
			})
			r, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			commit, err := r.ReadCommit(mustParse(t, c))
			if err != nil {
				t.Fatal(err)
			}
			tree, err := r.ReadDirTree(commit.RootTree)
			if err != nil {
				t.Fatal(err)
			}
			objs := map[string]Checksum{}
			for _, e := range tree.Files {
				objs[e.Name] = e.Content
				fi, rc, err := r.OpenFile(e.Content)
				if err != nil {
					t.Fatal(err)
				}
				want, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				dst := make([]byte, fi.Size)
				got, err := r.ReadFileInto(e.Content, dst)
				if fi.IsSymlink() {
					if err == nil {
						t.Errorf("%s: ReadFileInto of a symlink succeeded", e.Name)
					}
					continue
				}
				if err != nil || !bytes.Equal(dst, want) || got.Mode != fi.Mode || got.Size != fi.Size {
					t.Errorf("%s: ReadFileInto = %+v, %v; bytes equal %v", e.Name, got, err, bytes.Equal(dst, want))
				}
				if _, err := r.ReadFileInto(e.Content, make([]byte, fi.Size+1)); err == nil {
					t.Errorf("%s: ReadFileInto with a buffer one byte too long succeeded", e.Name)
				}
				// The same through the descriptor PrefetchFile opened,
				// which ReadInto closes: Close then has nothing to do.
				pf := r.PrefetchFile(e.Content)
				if pf == nil {
					t.Fatalf("%s: PrefetchFile failed", e.Name)
				}
				if got, err := pf.ReadInto(dst); err != nil || !bytes.Equal(dst, want) || got.Size != fi.Size {
					t.Errorf("%s: Prefetched.ReadInto = %+v, %v; bytes equal %v", e.Name, got, err, bytes.Equal(dst, want))
				}
				pf.Close()
				pf.Close()
				// Read again, it opens the object itself.
				if _, err := pf.ReadInto(dst); err != nil || !bytes.Equal(dst, want) {
					t.Errorf("%s: second Prefetched.ReadInto: %v", e.Name, err)
				}
			}
			r.PrefetchFile(objs["tiny"]).Close() // prefetched, never read

			obj := r.objectPath(objs["text"], ObjFile)
			orig, err := os.ReadFile(obj)
			if err != nil {
				t.Fatal(err)
			}
			size := 9000 * 27
			for name, damage := range map[string]func([]byte) []byte{
				"flipped":   func(b []byte) []byte { b[len(b)-100] ^= 0x10; return b },
				"truncated": func(b []byte) []byte { return b[:len(b)-10] },
				"header":    func(b []byte) []byte { b[0] = 0xff; return b },
			} {
				if err := os.WriteFile(obj, damage(bytes.Clone(orig)), 0o644); err != nil {
					t.Fatal(err)
				}
				if _, err := r.ReadFileInto(objs["text"], make([]byte, size)); !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s object: %v, want ErrCorrupt", name, err)
				}
				if _, err := r.PrefetchFile(objs["text"]).ReadInto(make([]byte, size)); !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s object, prefetched: %v, want ErrCorrupt", name, err)
				}
			}
			os.Remove(obj)
			if _, err := r.ReadFileInto(objs["text"], make([]byte, size)); !errors.Is(err, ErrNotFound) {
				t.Errorf("missing object: %v, want ErrNotFound", err)
			}
			if pf := r.PrefetchFile(objs["text"]); pf != nil {
				t.Errorf("PrefetchFile of a missing object opened something")
			}
			if open := repotest.OpenObjects(t, p); len(open) > 0 {
				t.Errorf("objects left open: %v", open)
			}
		})
	}
}

func mustParse(t *testing.T, s string) Checksum {
	t.Helper()
	c, err := ParseChecksum(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOpenFileWholeBudget: archive objects are read whole into memory
// while the budget lasts, streamed from their file beyond it, and closing
// a reader gives its bytes back.
func TestOpenFileWholeBudget(t *testing.T) {
	r := initRepo(t, ModeArchive)
	payload := bytes.Repeat([]byte("budget "), 50000)
	ctx := t.Context()
	tx, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tx.WriteContent(&FileInfo{Mode: 0o100644, Size: uint64(len(payload))}, bytes.NewReader(payload), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	base := wholeBudget.Load()
	for _, spent := range []bool{false, true} {
		if spent {
			wholeBudget.Add(maxWholeHeld)
		}
		_, rc, err := r.OpenFile(c)
		if err != nil {
			t.Fatal(err)
		}
		_, whole := rc.(*verifyReader).r.(*wholeInflater)
		if whole == spent {
			t.Errorf("budget spent %v: read whole %v", spent, whole)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, payload) {
			t.Errorf("budget spent %v: %d bytes, %v", spent, len(got), err)
		}
		if spent {
			wholeBudget.Add(-maxWholeHeld)
		}
		if n := wholeBudget.Load(); n != base {
			t.Errorf("budget after Close: %d bytes held, want %d", n, base)
		}
	}
}

// TestOpenFileWholeKeepsMetadata: what OpenFile and ReadFileInto return
// of an archive object stays valid after the next object is read through
// the same pooled buffers, and a corrupt header returns what it holds.
func TestOpenFileWholeKeepsMetadata(t *testing.T) {
	r := initRepo(t, ModeArchive)
	ctx := t.Context()
	tx, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sums []Checksum
	for _, v := range []string{"aaaa", "bbbb"} {
		fi := &FileInfo{Mode: 0o100644, Size: 3, Xattrs: []Xattr{{Name: "user." + v, Value: []byte(v + v)}}}
		c, err := tx.WriteContent(fi, strings.NewReader("abc"), nil)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, c)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(how string, fi *FileInfo) {
		t.Helper()
		if len(fi.Xattrs) != 1 || fi.Xattrs[0].Name != "user.aaaa" || string(fi.Xattrs[0].Value) != "aaaaaaaa" {
			t.Errorf("%s: xattrs of the first object became %q", how, fi.Xattrs)
		}
	}
	fa, rca, err := r.OpenFile(sums[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rca.Close()
	_, rcb, err := r.OpenFile(sums[1])
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(rcb)
	rcb.Close()
	check("OpenFile", fa)
	fa, err = r.ReadFileInto(sums[0], make([]byte, 3))
	if err != nil {
		t.Fatal(err)
	}
	r.ReadFileInto(sums[1], make([]byte, 3))
	check("ReadFileInto", fa)

	// A file object with a directory's mode: refused, budget returned.
	b := newBuilder(t)
	c := b.file("payload", "", 0o40755)
	br, err := Open(b.path)
	if err != nil {
		t.Fatal(err)
	}
	base := wholeBudget.Load()
	if _, _, err := br.OpenFile(c); !errors.Is(err, ErrCorrupt) {
		t.Errorf("OpenFile of a file object with mode 040755: %v, want ErrCorrupt", err)
	}
	if n := wholeBudget.Load(); n != base {
		t.Errorf("budget after a refused object: %d, want %d", n, base)
	}
}
