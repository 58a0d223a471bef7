package delta

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
)

// applyFromDir applies the delta name stored in the repository at dir to
// r, as an offline apply would, writing parallel objects at once, and
// points ref main at its commit.
func applyFromDir(t *testing.T, r *repo.Repo, dir string, name Name, parallel int) Stats {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name.SuperblockPath()))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := DecodeSuperblock(data)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Name != name {
		t.Fatalf("superblock names %s, want %s", sb.Name, name)
	}
	tx, err := r.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	sink := &TxSink{Repo: r, Tx: tx, TmpDir: t.TempDir(), Parallel: parallel}
	var total Stats
	for i, h := range sb.Parts {
		f, err := os.Open(filepath.Join(dir, name.PartPath(i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyPart(f, &h); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		f.Seek(0, 0)
		p, err := ReadPart(f, Limit(&h), t.TempDir())
		f.Close()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		st, err := p.Execute(h.Objects, sink)
		p.Close()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		total.add(st)
	}
	for _, fb := range sb.Fallbacks {
		t.Logf("fallback %s (%d bytes): copied from the source", fb.Checksum, fb.USize)
		copyObject(t, r, tx, dir, fb.Checksum)
	}
	if _, err := tx.WriteMetadata(repo.ObjCommit, sb.Commit, &sb.Name.To); err != nil {
		t.Fatal(err)
	}
	if err := tx.SetRef("", "main", sb.Name.To); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	return total
}

func (s *Stats) add(o Stats) {
	s.SpliceClose += o.SpliceClose
	s.Open += o.Open
	s.Write += o.Write
	s.SetRead += o.SetRead
	s.UnsetRead += o.UnsetRead
	s.Close += o.Close
	s.Bspatch += o.Bspatch
}

// copyObject stages content object c of the archive repository at dir.
func copyObject(t *testing.T, r *repo.Repo, tx *repo.Transaction, dir string, c repo.Checksum) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, repo.ArchiveObjectPath(c, repo.ObjFile)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if _, err := tx.WriteArchiveStream(f, st.Size(), c); err != nil {
		t.Fatal(err)
	}
}

func TestApplyOstreeDeltas(t *testing.T) {
	repotest.RequireOstree(t)
	ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 90, Big: 300 << 10, Generate: []string{"--min-fallback-size=0"}})
	from, _ := repo.ParseChecksum(ds.From)
	to, _ := repo.ParseChecksum(ds.To)
	want := repotest.Ostree(t, "--repo="+ds.Repo, "ls", "-R", "-C", ds.To)
	for _, tc := range []struct {
		name     string
		mode     repo.Mode
		delta    Name
		withOld  bool
		parallel int
	}{
		{"scratch into bare-user", repo.ModeBareUser, Name{To: to, Scratch: true}, false, 1},
		{"scratch into archive", repo.ModeArchive, Name{To: to, Scratch: true}, false, 1},
		{"update into bare-user", repo.ModeBareUser, Name{From: from, To: to}, true, 1},
		{"update into archive", repo.ModeArchive, Name{From: from, To: to}, true, 1},
		{"scratch into bare-user, 4 writers", repo.ModeBareUser, Name{To: to, Scratch: true}, false, 4},
		{"update into bare-user, 4 writers", repo.ModeBareUser, Name{From: from, To: to}, true, 4},
		{"update into archive, 4 writers", repo.ModeArchive, Name{From: from, To: to}, true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "client")
			repotest.Init(t, path, tc.mode.String())
			if tc.withOld {
				repotest.Ostree(t, "--repo="+path, "pull-local", ds.Repo, ds.From)
			}
			r, err := repo.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			st := applyFromDir(t, r, ds.Repo, tc.delta, tc.parallel)
			t.Logf("ops: %+v", st)
			if tc.withOld && st.Bspatch+st.Write == 0 {
				t.Errorf("the update delta used neither bspatch nor write: %+v", st)
			}
			repotest.Ostree(t, "--repo="+path, "fsck")
			if got := repotest.Ostree(t, "--repo="+path, "ls", "-R", "-C", "main"); got != want {
				t.Errorf("ls -R differs:\n%s\nwant\n%s", got, want)
			}
		})
	}
}
