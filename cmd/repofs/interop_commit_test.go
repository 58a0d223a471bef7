package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

func TestInteropCommitOptions(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			src := cliTree(t)
			base := filepath.Join(t.TempDir(), "repo")
			repotest.Init(t, base, mode)
			first := repotest.Commit(t, base, "main", src, repotest.CommitOpts{Subject: "first", Metadata: map[string]string{"version": "1.0"}})
			msg := filepath.Join(t.TempDir(), "msg")
			if err := os.WriteFile(msg, []byte("from a file\n\nsecond paragraph\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ts, tree := "--timestamp=2024-06-01T00:00:00Z", "--tree=dir="+src
			files := t.TempDir()
			file := func(name, text string) string {
				p := filepath.Join(files, name)
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			so := file("so", "+2048 /bin/run.sh\n=420 /xdir/suid\n=448 /sticky\n")
			soBad := file("sobad", "+2048 /nope\n+1 /zzz\n")
			soMalformed := file("somal", "+2048\n")
			skip := file("skip", "/wide\n/hello.txt\n/deep/a/up\n")
			skipBad := file("skipbad", "/nope\n")
			cases := [][]string{
				{"commit", "-b", "main", "-s", "again", ts, tree},
				{"commit", "-b", "main", "--skip-if-unchanged", "-s", "again", ts, tree},
				{"commit", "--orphan", "-s", "orphan", ts, tree},
				{"commit", "-b", "side", "--orphan", ts, tree},
				{"commit", "-b", "main", "--parent=none", ts, tree},
				{"commit", "-b", "other", "--parent=" + first, ts, tree},
				{"commit", "-b", "main", "-F", msg, ts, tree},
				{"commit", "-b", "main", "--owner-uid=0", "--owner-gid=0", ts, tree},
				{"commit", "-b", "main", "--owner-uid=1234", ts, tree},
				{"commit", "-b", "main", "--mode-ro-executables", ts, tree},
				{"commit", "-b", "main", "--no-xattrs", ts, tree},
				{"commit", "-b", "main", "--canonical-permissions", "--owner-gid=0", ts, tree},
				{"commit", "-b", "main", "--add-detached-metadata-string=note=hi", "--add-detached-metadata-string=n2=x", ts, tree},
				{"commit", "-b", "main", "--skip-if-unchanged", "--owner-uid=77", ts, tree},
				{"commit", "-b", "main", "--canonical-permissions", "--owner-uid=5", ts, tree},
				{"commit", "-s", "no branch", ts, tree},
				{"commit", "-b", "main", "--statoverride=" + so, ts, tree},
				{"commit", "-b", "main", "--statoverride=" + soBad, ts, tree},
				{"commit", "-b", "main", "--statoverride=" + soMalformed, ts, tree},
				{"commit", "-b", "main", "--skip-list=" + skip, ts, tree},
				{"commit", "-b", "main", "--skip-list=" + skipBad, ts, tree},
				{"commit", "-b", "main", "--keep-metadata=version", ts, tree},
				{"commit", "-b", "main", "--keep-metadata=nope", ts, tree},
				{"commit", "--orphan", "--keep-metadata=version", ts, tree},
				{"commit", "-b", "copy", "-s", "copy", ts, "--tree=ref=main"},
				{"commit", "-b", "main", ts, "--tree=ref=" + first[:10]},
				{"commit", "-b", "main", ts, "--tree=ref=nope"},
				{"commit", "-b", "main", ts, "--tree=nope"},
				{"commit", "-b", "main", ts, "--tree=zip=x"},
			}
			// --consume: each tool gets its own copy of the tree.
			a, b := cloneRepo(t, base), cloneRepo(t, base)
			ca, cb := cloneRepo(t, src), cloneRepo(t, src)
			want := repotest.Ostree(t, "--repo="+a, "commit", "-b", "main", "--consume", ts, "--tree=dir="+ca)
			got, errs, code := repofs(t, "--repo="+b, "commit", "-b", "main", "--consume", ts, "--tree=dir="+cb)
			if got != want || code != 0 {
				t.Errorf("commit --consume: repofs %q %d %q, ostree %q", got, code, errs, want)
			}
			for _, d := range []string{ca, cb} {
				if _, err := os.Lstat(d); !os.IsNotExist(err) {
					t.Errorf("commit --consume left %s: %v", d, err)
				}
			}
			for _, c := range cases {
				a, b := cloneRepo(t, base), cloneRepo(t, base)
				sameWrite(t, a, b, c, []string{"refs"}, []string{"rev-parse", "main"}, []string{"log", "main"},
					[]string{"show", "--print-detached-metadata-key=note", "main"}, []string{"fsck"})
			}
		})
	}
}
