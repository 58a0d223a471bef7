package pull

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
)

// localEntries fit every mode, bare-user-only included.
var localEntries = []repotest.Entry{
	{Path: "hello.txt", Kind: repotest.File, Data: []byte("hello\n")},
	{Path: "empty", Kind: repotest.File},
	{Path: "bin/run", Kind: repotest.File, Data: []byte("#!/bin/sh\n"), Mode: 0o755},
	{Path: "link", Kind: repotest.Symlink, Target: "hello.txt"},
	{Path: "d/e/f", Kind: repotest.File, Size: 300 << 10},
	{Path: "d/same", Kind: repotest.File, Data: []byte("hello\n")},
}

// objectFiles lists a repository's object files, each marked "linked"
// when it is the same inode as the source's object of that name.
func objectFiles(t *testing.T, dst, src string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dst, "objects")
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		a, _ := os.Lstat(p)
		linked := ""
		if b, err := os.Lstat(filepath.Join(src, "objects", rel)); err == nil && os.SameFile(a, b) {
			linked = " linked"
		}
		out = append(out, rel+linked)
		return nil
	})
	slices.Sort(out)
	return out
}

// TestPullLocalModes: for every pair of modes, PullLocal imports what
// `ostree pull-local` imports, reports the same counts, hardlinks the same
// objects, and leaves a repository that ostree fscks clean.
func TestPullLocalModes(t *testing.T) {
	repotest.RequireOstree(t)
	for _, sm := range repotest.Modes {
		src, commit := repotest.NewRepo(t, sm, localEntries)
		for _, dm := range repotest.Modes {
			t.Run(sm+"-to-"+dm, func(t *testing.T) {
				want := filepath.Join(t.TempDir(), "ostree")
				repotest.Init(t, want, dm)
				wantOut := repotest.Ostree(t, "--repo="+want, "pull-local", src, "main")

				mode, _ := repo.ParseMode(dm)
				r, err := repo.Init(filepath.Join(t.TempDir(), "repofs"), mode)
				if err != nil {
					t.Fatal(err)
				}
				res, err := PullLocal(context.Background(), r, mustOpen(t, src), LocalOptions{Refs: []string{"main"}})
				if err != nil {
					t.Fatal(err)
				}
				gotOut := fmt.Sprintf("%d metadata, %d content objects imported;", res.Metadata, res.Content)
				if !strings.HasPrefix(wantOut, gotOut) {
					t.Errorf("repofs imported %q, ostree %q", gotOut, wantOut)
				}
				if got, _ := r.ReadRef("", "main"); got.String() != commit {
					t.Errorf("main = %s, want %s", got, commit)
				}
				if got, want := objectFiles(t, r.Path(), src), objectFiles(t, want, src); !slices.Equal(got, want) {
					t.Errorf("objects differ from ostree's:\nrepofs %v\nostree %v", got, want)
				}
				repotest.Ostree(t, "--repo="+r.Path(), "fsck")
				if got, want := repotest.Ostree(t, "--repo="+r.Path(), "ls", "-R", "-C", "main"), repotest.Ostree(t, "--repo="+src, "ls", "-R", "-C", "main"); got != want {
					t.Errorf("ls -R differs from the source")
				}
			})
		}
	}
}

func mustOpen(t *testing.T, p string) *repo.Repo {
	t.Helper()
	r, err := repo.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPullLocalUntrusted: a corrupted source object is hardlinked as is
// by a trusted pull-local (as ostree does), and rejected with --untrusted.
func TestPullLocalUntrusted(t *testing.T) {
	repotest.RequireOstree(t)
	src, _ := repotest.NewRepo(t, "bare-user", localEntries)
	sr := mustOpen(t, src)
	root, err := sr.ResolveRev("main")
	if err != nil {
		t.Fatal(err)
	}
	cm, _ := sr.ReadCommit(root)
	dt, _ := sr.ReadDirTree(cm.RootTree)
	var victim repo.Checksum
	for _, f := range dt.Files {
		if f.Name == "hello.txt" {
			victim = f.Content
		}
	}
	p := sr.ObjectPath(victim, repo.ObjFile)
	if err := os.WriteFile(p, []byte("HELLO\n"), 0o644); err != nil { // same size, other bytes
		t.Fatal(err)
	}
	for _, untrusted := range []bool{true, false} {
		r, err := repo.Init(filepath.Join(t.TempDir(), "dst"), repo.ModeBareUser)
		if err != nil {
			t.Fatal(err)
		}
		_, err = PullLocal(context.Background(), r, sr, LocalOptions{Refs: []string{"main"}, Untrusted: untrusted})
		if untrusted && !errors.Is(err, repo.ErrCorrupt) {
			t.Errorf("--untrusted pull-local of a corrupt object: %v, want ErrCorrupt", err)
		}
		if !untrusted && err != nil {
			t.Errorf("trusted pull-local: %v", err)
		}
	}
}

// TestPullLocalCopyVerifies: an object copied from an archive source
// (decoded, rewritten) whose DEFLATE stream is broken fails the pull with
// ErrCorrupt, trusted or not; one whose stream decodes to other bytes than
// its checksum covers fails it with --untrusted, and is copied as it
// decodes by a trusted pull-local, as `ostree pull-local` copies it
// (and as a trusted hardlink takes a corrupt object, see
// TestPullLocalUntrusted). Both for a payload decoded whole and one
// streamed. A failed object never reaches objects/, and is never given
// its name in the staging directory either.
func TestPullLocalCopyVerifies(t *testing.T) {
	repotest.RequireOstree(t)
	entries := append(slices.Clone(localEntries), repotest.Entry{Path: "big", Kind: repotest.File, Size: 5 << 20})
	for _, tc := range []struct {
		name, file string
		tamper     func(payload []byte) []byte // nil: garbage after the header
	}{
		{"small-payload", "hello.txt", func(b []byte) []byte { return []byte("HELLO\n") }},
		{"small-stream", "hello.txt", nil},
		{"large-payload", "big", func(b []byte) []byte { b = slices.Clone(b); b[len(b)/2] ^= 1; return b }},
		{"large-stream", "big", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, _ := repotest.NewRepo(t, "archive", entries)
			sr := mustOpen(t, src)
			root, _ := sr.ResolveRev("main")
			cm, _ := sr.ReadCommit(root)
			dt, _ := sr.ReadDirTree(cm.RootTree)
			var victim repo.Checksum
			for _, f := range dt.Files {
				if f.Name == tc.file {
					victim = f.Content
				}
			}
			p := sr.ObjectPath(victim, repo.ObjFile)
			filez, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			hdr := 8 + int(binary.BigEndian.Uint32(filez[:4]))
			out := slices.Clone(filez[:hdr])
			var tampered []byte
			if tc.tamper == nil {
				out = append(out, bytes.Repeat([]byte{0xff}, 64)...)
			} else {
				_, rc, err := sr.OpenFile(victim)
				if err != nil {
					t.Fatal(err)
				}
				payload, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				tampered = tc.tamper(payload)
				var buf bytes.Buffer
				zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
				zw.Write(tampered)
				zw.Close()
				out = append(out, buf.Bytes()...)
			}
			if err := os.WriteFile(p, out, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, untrusted := range []bool{false, true} {
				r, err := repo.Init(filepath.Join(t.TempDir(), "dst"), repo.ModeBareUser)
				if err != nil {
					t.Fatal(err)
				}
				_, err = PullLocal(context.Background(), r, sr, LocalOptions{Refs: []string{"main"}, Untrusted: untrusted})
				if !untrusted && tampered != nil {
					// What ostree does with the same source.
					want := filepath.Join(t.TempDir(), "ostree")
					repotest.Init(t, want, "bare-user")
					repotest.Ostree(t, "--repo="+want, "pull-local", src, "main")
					wantData, werr := os.ReadFile(filepath.Join(want, "objects", victim.String()[:2], victim.String()[2:]+".file"))
					if err != nil || werr != nil {
						t.Fatalf("trusted pull-local of a tampered %s: %v (ostree: %v), want both to copy it", tc.file, err, werr)
					}
					got, err := os.ReadFile(r.ObjectPath(victim, repo.ObjFile))
					if err != nil || !bytes.Equal(got, tampered) || !bytes.Equal(wantData, tampered) {
						t.Errorf("trusted pull-local of a tampered %s: object not copied as it decodes (err %v), or not as ostree copies it", tc.file, err)
					}
					continue
				}
				if !errors.Is(err, repo.ErrCorrupt) || !strings.Contains(err.Error(), victim.String()) {
					t.Errorf("untrusted=%v: pull-local of a tampered %s: %v, want ErrCorrupt naming %s", untrusted, tc.file, err, victim)
				}
				if ok, _ := r.HasObject(victim, repo.ObjFile); ok {
					t.Errorf("untrusted=%v: the tampered object reached objects/", untrusted)
				}
				// Not even the staging directory, left for the next
				// transaction, holds a file under the object's name.
				filepath.WalkDir(filepath.Join(r.Path(), "tmp"), func(p string, d os.DirEntry, err error) error {
					if err == nil && strings.Contains(p, victim.String()[2:]) {
						t.Errorf("untrusted=%v: the tampered object was staged as %s", untrusted, p)
					}
					return nil
				})
			}
		})
	}
}

// TestPullLocalSourceSymlink: a source object file that is a symlink, to
// another object or anywhere, is never followed: the pull fails naming
// the object.
func TestPullLocalSourceSymlink(t *testing.T) {
	repotest.RequireOstree(t)
	src, _ := repotest.NewRepo(t, "archive", localEntries)
	sr := mustOpen(t, src)
	root, _ := sr.ResolveRev("main")
	cm, _ := sr.ReadCommit(root)
	dt, _ := sr.ReadDirTree(cm.RootTree)
	files := map[string]repo.Checksum{}
	for _, f := range dt.Files {
		files[f.Name] = f.Content
	}
	victim := files["hello.txt"]
	p := sr.ObjectPath(victim, repo.ObjFile)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sr.ObjectPath(files["empty"], repo.ObjFile), p); err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(filepath.Join(t.TempDir(), "dst"), repo.ModeBareUser)
	if err != nil {
		t.Fatal(err)
	}
	_, err = PullLocal(context.Background(), r, sr, LocalOptions{Refs: []string{"main"}})
	if !errors.Is(err, repo.ErrCorrupt) || !strings.Contains(err.Error(), victim.String()) || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("pull-local of a symlinked source object: %v, want ErrCorrupt naming %s and the symlink", err, victim)
	}
}

// objectStats describes every object file of a repository as stored:
// type and mode bits, owner, size, mtime, xattrs and a digest of the bytes
// (or the symlink target); the mtime of regular content files only.
func objectStats(t *testing.T, repoPath string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(repoPath, "objects")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		var body []byte
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			body = []byte(target)
		} else if body, err = os.ReadFile(p); err != nil {
			return err
		}
		buf := make([]byte, 4096)
		n, err := unix.Llistxattr(p, buf)
		if err != nil {
			return err
		}
		var xattrs []string
		for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
			if name == "" {
				continue
			}
			v := make([]byte, 4096)
			m, err := unix.Lgetxattr(p, name, v)
			if err != nil {
				return err
			}
			xattrs = append(xattrs, fmt.Sprintf("%s=%x", name, v[:m]))
		}
		slices.Sort(xattrs)
		// Content files have mtime 0 in bare modes; a metadata object's
		// is when it was written, and ostree leaves a bare symlink's too.
		mtime := "-"
		if strings.HasSuffix(rel, ".file") && st.Mode&unix.S_IFMT == unix.S_IFREG {
			mtime = fmt.Sprint(st.Mtim.Sec)
		}
		out = append(out, fmt.Sprintf("%s mode=0%o uid=%d gid=%d size=%d mtime=%s xattrs=%v sha256=%x",
			rel, st.Mode, st.Uid, st.Gid, st.Size, mtime, xattrs, sha256.Sum256(body)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestPullLocalObjectsMatchOstree: the objects PullLocal stores, linked
// or rewritten, are the very files `ostree pull-local` stores: the same
// bytes, mode bits, owner, mtime and xattrs (user.ostreemeta in
// bare-user), for owners, setuid/setgid, private and group-writable
// modes, xattrs, symlinks, and payloads whose .filez is mapped rather
// than read (over 1 MiB), decoded at once or a chunk at a time.
func TestPullLocalObjectsMatchOstree(t *testing.T) {
	repotest.RequireOstree(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: the source holds files owned by other users")
	}
	entries := []repotest.Entry{
		{Path: "hello.txt", Kind: repotest.File, Data: []byte("hello\n"), Xattrs: map[string]string{"user.b": "2", "user.a": "one"}},
		{Path: "empty", Kind: repotest.File},
		{Path: "x/suid", Kind: repotest.File, Data: []byte("#!/bin/sh\n"), Mode: 0o4755},
		{Path: "x/sgid", Kind: repotest.File, Data: []byte("#!/bin/sh\necho\n"), Mode: 0o2711},
		{Path: "x/private", Kind: repotest.File, Data: []byte("secret\n"), Mode: 0o600},
		// Group-writable: the umask takes bits from the mode a file is
		// created with, which a chmod must then set.
		{Path: "x/shared", Kind: repotest.File, Data: []byte("shared\n"), Mode: 0o664},
		{Path: "x/shared-exec", Kind: repotest.File, Data: []byte("#!/bin/sh\n\n"), Mode: 0o775},
		{Path: "owned", Kind: repotest.File, Data: []byte("owned\n"), UID: 4242, GID: 4343},
		{Path: "link", Kind: repotest.Symlink, Target: "hello.txt"},
		{Path: "big", Kind: repotest.File, Size: 5<<20 + 3, Mode: 0o755},
		// Incompressible: its .filez is over 1 MiB, its payload not.
		{Path: "near", Kind: repotest.File, Size: 1<<20 - 50},
		{Path: "mid", Kind: repotest.File, Size: 300 << 10, Xattrs: map[string]string{"user.big": strings.Repeat("v", 200)}},
	}
	for _, sm := range []string{"archive", "bare", "bare-user"} {
		src, _ := repotest.NewRepo(t, sm, entries)
		for _, dm := range []string{"bare", "bare-user"} {
			t.Run(sm+"-to-"+dm, func(t *testing.T) {
				want := filepath.Join(t.TempDir(), "ostree")
				repotest.Init(t, want, dm)
				repotest.Ostree(t, "--repo="+want, "pull-local", src, "main")
				mode, _ := repo.ParseMode(dm)
				r, err := repo.Init(filepath.Join(t.TempDir(), "repofs"), mode)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := PullLocal(context.Background(), r, mustOpen(t, src), LocalOptions{Refs: []string{"main"}}); err != nil {
					t.Fatal(err)
				}
				if got, want := objectStats(t, r.Path()), objectStats(t, want); !slices.Equal(got, want) {
					t.Errorf("objects differ from ostree's:\nrepofs %q\nostree %q", got, want)
				}
				repotest.Ostree(t, "--repo="+r.Path(), "fsck")
			})
		}
	}
}

// TestPullLocalSkipsPresent: objects the destination holds already, in
// objects/ from an earlier pull, are neither copied nor counted again,
// as with ostree: a second commit sharing most of its files imports only
// what is new.
func TestPullLocalSkipsPresent(t *testing.T) {
	repotest.RequireOstree(t)
	for _, dm := range []string{"bare-user", "archive"} {
		t.Run(dm, func(t *testing.T) {
			src, _ := repotest.NewRepo(t, "archive", localEntries)
			tree := t.TempDir()
			repotest.Ostree(t, "--repo="+src, "checkout", "-U", "main", filepath.Join(tree, "co"))
			if err := os.WriteFile(filepath.Join(tree, "co", "new.txt"), []byte("new\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			repotest.Ostree(t, "--repo="+src, "commit", "-b", "next", "--no-xattrs", filepath.Join(tree, "co"))
			want := filepath.Join(t.TempDir(), "ostree")
			repotest.Init(t, want, dm)
			repotest.Ostree(t, "--repo="+want, "pull-local", src, "main")
			wantOut := repotest.Ostree(t, "--repo="+want, "pull-local", src, "next")

			mode, _ := repo.ParseMode(dm)
			r, err := repo.Init(filepath.Join(t.TempDir(), "repofs"), mode)
			if err != nil {
				t.Fatal(err)
			}
			sr := mustOpen(t, src)
			if _, err := PullLocal(context.Background(), r, sr, LocalOptions{Refs: []string{"main"}}); err != nil {
				t.Fatal(err)
			}
			res, err := PullLocal(context.Background(), r, sr, LocalOptions{Refs: []string{"next"}})
			if err != nil {
				t.Fatal(err)
			}
			gotOut := fmt.Sprintf("%d metadata, %d content objects imported;", res.Metadata, res.Content)
			if !strings.HasPrefix(wantOut, gotOut) || res.Content != 1 {
				t.Errorf("second pull-local: repofs %q, ostree %q; want 1 content object", gotOut, wantOut)
			}
			repotest.Ostree(t, "--repo="+r.Path(), "fsck")
		})
	}
}

// wideTree has many directories: identical subtrees (one dirtree, reached
// from many places), directories that share one dirmeta and others with
// their own, and files shared between directories.
func wideTree() []repotest.Entry {
	var es []repotest.Entry
	for i := range 40 {
		d := fmt.Sprintf("d%02d", i)
		es = append(es,
			repotest.Entry{Path: d + "/same/a", Kind: repotest.File, Data: []byte("same subtree\n")},
			repotest.Entry{Path: d + "/same/b/c", Kind: repotest.File, Data: []byte("deeper\n")},
			repotest.Entry{Path: d + "/own", Kind: repotest.File, Data: []byte(d + "\n")},
			repotest.Entry{Path: d + "/shared", Kind: repotest.File, Data: []byte("shared\n")},
			repotest.Entry{Path: d + "/sub/x", Kind: repotest.File, Size: int64(100 + i*97)})
		if i%3 == 0 {
			es = append(es, repotest.Entry{Path: d + "/priv", Kind: repotest.Dir, Mode: 0o700})
		}
	}
	return es
}

// TestPullLocalWideTree: with workers taking dirtrees and content from
// one queue, a tree of many directories, shared subtrees and shared
// dirmeta is imported whole, each object counted once, as ostree counts
// it, whatever the number of workers.
func TestPullLocalWideTree(t *testing.T) {
	repotest.RequireOstree(t)
	src, commit := repotest.NewRepo(t, "archive", wideTree())
	want := filepath.Join(t.TempDir(), "ostree")
	repotest.Init(t, want, "bare-user")
	wantOut := repotest.Ostree(t, "--repo="+want, "pull-local", src, "main")
	for _, parallel := range []int{1, 2, 8} {
		t.Run(fmt.Sprint(parallel), func(t *testing.T) {
			r, err := repo.Init(filepath.Join(t.TempDir(), "repofs"), repo.ModeBareUser)
			if err != nil {
				t.Fatal(err)
			}
			res, err := PullLocal(context.Background(), r, mustOpen(t, src), LocalOptions{Refs: []string{"main"}, Parallel: parallel})
			if err != nil {
				t.Fatal(err)
			}
			gotOut := fmt.Sprintf("%d metadata, %d content objects imported;", res.Metadata, res.Content)
			if !strings.HasPrefix(wantOut, gotOut) {
				t.Errorf("repofs imported %q, ostree %q", gotOut, wantOut)
			}
			if got, want := objectFiles(t, r.Path(), src), objectFiles(t, want, src); !slices.Equal(got, want) {
				t.Errorf("objects differ from ostree's:\nrepofs %v\nostree %v", got, want)
			}
			if got, _ := r.ReadRef("", "main"); got.String() != commit {
				t.Errorf("main = %s, want %s", got, commit)
			}
			repotest.Ostree(t, "--repo="+r.Path(), "fsck")
		})
	}
}

// TestPullLocalMissingDirTree: a dirtree missing from the source deep in
// the tree fails the pull naming it, with no ref written, whatever the
// number of workers, and a cancelled pull stops with the context's error.
func TestPullLocalMissingDirTree(t *testing.T) {
	repotest.RequireOstree(t)
	src, _ := repotest.NewRepo(t, "archive", wideTree())
	sr := mustOpen(t, src)
	root, _ := sr.ResolveRev("main")
	cm, _ := sr.ReadCommit(root)
	dt, _ := sr.ReadDirTree(cm.RootTree)
	d, _ := sr.ReadDirTree(dt.Dirs[len(dt.Dirs)-1].Tree)
	var victim repo.Checksum
	for _, e := range d.Dirs {
		if e.Name == "sub" {
			victim = e.Tree
		}
	}
	if err := os.Remove(sr.ObjectPath(victim, repo.ObjDirTree)); err != nil {
		t.Fatal(err)
	}
	for _, parallel := range []int{1, 3} {
		r, err := repo.Init(filepath.Join(t.TempDir(), "repofs"), repo.ModeBareUser)
		if err != nil {
			t.Fatal(err)
		}
		_, err = PullLocal(context.Background(), r, sr, LocalOptions{Refs: []string{"main"}, Parallel: parallel})
		if err == nil || !strings.Contains(err.Error(), victim.String()) {
			t.Errorf("parallel %d: pull-local with dirtree %s missing: %v, want an error naming it", parallel, victim, err)
		}
		if _, err := r.ReadRef("", "main"); err == nil {
			t.Errorf("parallel %d: main written by a failed pull-local", parallel)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := repo.Init(filepath.Join(t.TempDir(), "repofs"), repo.ModeBareUser)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PullLocal(ctx, r, sr, LocalOptions{Refs: []string{"main"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled pull-local: %v, want context.Canceled", err)
	}
}
