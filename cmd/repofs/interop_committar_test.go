package main

import (
	"archive/tar"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// goTar writes a tar with Go's archive/tar: PAX xattrs, a hardlink before
// and one after data, paths with "/" and "./", parents left implied.
func goTar(t *testing.T, dir string, root bool) string {
	t.Helper()
	p := filepath.Join(dir, "go.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	type ent struct {
		h    tar.Header
		data string
	}
	var ents []ent
	if root {
		ents = append(ents, ent{h: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 0, Gid: 0}})
	}
	ents = append(ents,
		ent{h: tar.Header{Name: "./usr/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 0, Gid: 0}},
		ent{h: tar.Header{Name: "usr/bin/", Typeflag: tar.TypeDir, Mode: 0o2775, Uid: 10, Gid: 20,
			PAXRecords: map[string]string{"SCHILY.xattr.user.dir": "d\x00v"}}},
		ent{h: tar.Header{Name: "usr/bin/tool", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 0, Gid: 0,
			PAXRecords: map[string]string{"SCHILY.xattr.user.b": "2", "SCHILY.xattr.user.a": "1"}}, data: "#!/bin/sh\n"},
		ent{h: tar.Header{Name: "/usr/bin/link", Typeflag: tar.TypeLink, Linkname: "usr/bin/tool"}},
		ent{h: tar.Header{Name: "usr/bin/sym", Typeflag: tar.TypeSymlink, Linkname: "tool", Mode: 0o777, Uid: 3, Gid: 4}},
		ent{h: tar.Header{Name: "usr/share/doc/deep/readme", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 7, Gid: 8}, data: "implied parents\n"},
		ent{h: tar.Header{Name: "etc/empty", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 0, Gid: 0}},
		ent{h: tar.Header{Name: "etc/later", Typeflag: tar.TypeLink, Linkname: "./etc/empty"}},
		ent{h: tar.Header{Name: "./usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 1, Gid: 1}},
	)
	for _, e := range ents {
		e.h.Size = int64(len(e.data))
		e.h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&e.h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// oneEntryTar is a tar of a single header.
func oneEntryTar(t *testing.T, dir, name string, h tar.Header) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, h := range []tar.Header{{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, h} {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInteropCommitTar(t *testing.T) {
	repotest.RequireOstree(t)
	gnutar, err := exec.LookPath("tar")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("GNU tar is missing")
		}
		t.Skip("SKIPPING: GNU tar is missing")
	}
	dir := t.TempDir()
	src := t.TempDir()
	repotest.WriteTree(t, src, repotest.FixtureEntries(repotest.FixtureOpts{Wide: 5}))
	if err := os.Link(filepath.Join(src, "hello.txt"), filepath.Join(src, "hardlink")); err != nil {
		t.Fatal(err)
	}
	gnu := filepath.Join(dir, "gnu.tar")
	if out, err := exec.Command(gnutar, "--xattrs", "--xattrs-include=*", "--format=posix", "-cf", gnu, "-C", src, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	gnuNoRoot := filepath.Join(dir, "gnu-noroot.tar")
	if out, err := exec.Command(gnutar, "--format=gnu", "--numeric-owner", "--owner=5", "--group=6", "-cf", gnuNoRoot, "-C", src, "hello.txt", "xdir", "hardlink").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	withRoot, noRoot := goTar(t, dir, true), goTar(t, t.TempDir(), false)
	fifo := oneEntryTar(t, dir, "fifo.tar", tar.Header{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o644})
	dev := oneEntryTar(t, dir, "dev.tar", tar.Header{Name: "null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3})
	up := oneEntryTar(t, dir, "up.tar", tar.Header{Name: "a/../../x", Typeflag: tar.TypeReg, Mode: 0o644})
	ts := "--timestamp=2024-06-01T00:00:00Z"
	ok := [][]string{
		{"--tree=tar=" + gnu},
		{"--tree=tar=" + gnu, "--owner-uid=0", "--owner-gid=0"},
		{"--tree=tar=" + gnu, "--no-xattrs"},
		{"--tree=tar=" + gnu, "--canonical-permissions"},
		{"--tree=tar=" + gnu, "--mode-ro-executables"},
		{"--tree=tar=" + gnuNoRoot, "--tar-autocreate-parents"},
		{"--tree=tar=" + withRoot, "--tar-autocreate-parents"},
		{"--tree=tar=" + noRoot, "--tar-autocreate-parents"},
		{"--tree=tar=" + noRoot, "--tar-autocreate-parents", "--owner-uid=9"},
		{"--tree=tar=" + withRoot, "--tar-autocreate-parents", `--tar-pathname-filter=^usr/bin,usr/sbin`},
		{"--tree=tar=" + withRoot, "--tar-autocreate-parents", `--tar-pathname-filter=^(usr)/(bin)(.*),\1/x\2\3`},
		{"--tree=tar=" + withRoot, "--tree=tar=" + gnu, "--tar-autocreate-parents"},
		{"--tree=tar=" + gnu, "--tree=tar=" + withRoot, "--tar-autocreate-parents"},
		{"--tree=dir=" + src, "--tree=tar=" + withRoot, "--tar-autocreate-parents"},
		{"--tree=tar=" + withRoot, "--tree=dir=" + src, "--tar-autocreate-parents"},
		{"--tree=dir=" + src, "--tree=dir=" + src},
		{"--tree=tar=" + noRoot, "--tree=ref=main", "--tar-autocreate-parents"},
		{"--tree=ref=main", "--tree=tar=" + noRoot, "--tar-autocreate-parents"},
	}
	fail := [][]string{
		{"--tree=tar=" + withRoot}, // usr/share/doc/deep has no parent
		{"--tree=ref=main", "--tree=tar=" + noRoot},
		{"--tree=tar=" + fifo},
		{"--tree=tar=" + dev},
		{"--tree=tar=" + up},
		{"--tree=tar=" + gnuNoRoot},
		{"--tree=tar=" + filepath.Join(dir, "nope.tar")},
		{"--tree=tar=" + withRoot, "--tar-pathname-filter=nocomma"},
	}
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			base := filepath.Join(t.TempDir(), "repo")
			repotest.Init(t, base, mode)
			repotest.Commit(t, base, "main", src, repotest.CommitOpts{Subject: "first"})
			for _, c := range ok {
				a, b := cloneRepo(t, base), cloneRepo(t, base)
				args := append([]string{"commit", "-b", "main", ts}, c...)
				sameWrite(t, a, b, args, []string{"log", "main"}, []string{"ls", "-RX", "main"})
				// ostree's own fsck fails on bare objects whose xattrs
				// are not in the order the file system lists them: the
				// same must happen to repofs's.
				_, _, wantCode := repotest.RunOstree(t, "--repo="+a, "fsck")
				if _, e, code := repotest.RunOstree(t, "--repo="+b, "fsck"); code != wantCode {
					t.Errorf("after %q: ostree fsck of repofs's repository exits %d (%s), of ostree's %d", args, code, e, wantCode)
				}
			}
			for _, c := range fail {
				a, b := cloneRepo(t, base), cloneRepo(t, base)
				args := append([]string{"commit", "-b", "main", ts}, c...)
				want, wantErr, wantCode := repotest.RunOstree(t, append([]string{"--repo=" + a}, args...)...)
				got, gotErr, gotCode := repofs(t, append([]string{"--repo=" + b}, args...)...)
				// ostree 2022.7 aborts on a FIFO in a bare-user-only
				// repository (an assertion): both must fail, repofs
				// cleanly.
				if got != "" || gotCode != 1 || wantCode == 0 {
					t.Errorf("%q: repofs %q %d %q, ostree %q %d %q", args, got, gotCode, gotErr, want, wantCode, wantErr)
				}
			}
		})
	}
}
