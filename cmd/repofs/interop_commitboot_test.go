package main

import (
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// TestInteropCommitBootable: ostree passes the metadata through a
// GVariantDict (a hash table) for --bootable; the order, and so the
// commit checksum, must come out the same.
func TestInteropCommitBootable(t *testing.T) {
	repotest.RequireOstree(t)
	kernel := t.TempDir()
	repotest.WriteTree(t, kernel, []repotest.Entry{
		{Path: "usr/lib/modules/6.1.0-test/vmlinuz", Kind: repotest.File, Data: []byte("kernel\n")},
		{Path: "usr/lib/modules/6.1.0-test/initramfs.img", Kind: repotest.File, Data: []byte("initramfs\n")},
		{Path: "usr/lib/modules/5.0-nokernel/modules.dep", Kind: repotest.File},
		{Path: "etc/os-release", Kind: repotest.File, Data: []byte("ID=test\n")},
	})
	two := t.TempDir()
	repotest.WriteTree(t, two, []repotest.Entry{
		{Path: "usr/lib/modules/a/vmlinuz", Kind: repotest.File},
		{Path: "usr/lib/modules/b/vmlinuz", Kind: repotest.Symlink, Target: "nowhere"},
	})
	none := t.TempDir()
	repotest.WriteTree(t, none, []repotest.Entry{{Path: "usr/lib/modules/x/config", Kind: repotest.File}})
	empty := t.TempDir()
	base := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, base, "archive")
	repotest.Commit(t, base, "main", kernel, repotest.CommitOpts{Subject: "first", Metadata: map[string]string{"version": "1"}})
	ts := "--timestamp=2024-06-01T00:00:00Z"
	many := []string{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "version", "ostree.ref-binding", "zz", "ostree.linux", "k10", "k11", "k12", "k13"} {
		many = append(many, "--add-metadata-string="+k+"=v-"+k)
	}
	cases := [][]string{
		{"--tree=dir=" + kernel},
		{"--orphan", "--tree=dir=" + kernel},
		{"--add-metadata-string=version=2", "--tree=dir=" + kernel},
		{"--add-metadata-string=version=2", "--add-metadata-string=version=3", "--add-metadata=x=<1>", "--tree=dir=" + kernel},
		{"--keep-metadata=version", "--tree=ref=main"},
		{"--tree=dir=" + two},
		{"--tree=dir=" + none},
		{"--tree=dir=" + empty},
		append(many, "--tree=dir="+kernel),
		append(many[:6], "--tree=dir="+kernel),
		append(many[:9], "--tree=dir="+kernel),
	}
	for _, c := range cases {
		a, b := cloneRepo(t, base), cloneRepo(t, base)
		args := append([]string{"commit", "-b", "main", "--bootable", ts}, c...)
		want, wantErr, wantCode := repotest.RunOstree(t, append([]string{"--repo=" + a}, args...)...)
		got, gotErr, gotCode := repofs(t, append([]string{"--repo=" + b}, args...)...)
		if got != want || gotCode != wantCode {
			t.Errorf("%q: repofs %q %d %q, ostree %q %d %q", c, got, gotCode, gotErr, want, wantCode, wantErr)
		}
	}
}
