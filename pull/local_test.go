package pull

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
// (decoded, rewritten) is checked against its checksum even by a trusted
// pull-local, whether it is small enough to be decoded whole or streamed:
// a tampered one fails the pull with ErrCorrupt and never reaches
// objects/.
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
				var buf bytes.Buffer
				zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
				zw.Write(tc.tamper(payload))
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
				if !errors.Is(err, repo.ErrCorrupt) || !strings.Contains(err.Error(), victim.String()) {
					t.Errorf("untrusted=%v: pull-local of a tampered %s: %v, want ErrCorrupt naming %s", untrusted, tc.file, err, victim)
				}
				if ok, _ := r.HasObject(victim, repo.ObjFile); ok {
					t.Errorf("untrusted=%v: the tampered object reached objects/", untrusted)
				}
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
