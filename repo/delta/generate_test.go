package delta

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
)

// applyGenerated applies a delta generated into dir (parts inline or
// beside the superblock) to r, copying fallbacks from the archive
// repository src, and points ref main at its commit.
func applyGenerated(t *testing.T, r *repo.Repo, dir, src string) Stats {
	t.Helper()
	sb, _, _, err := ReadSuperblockFile(filepath.Join(dir, "superblock"))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := r.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	sink := &TxSink{Repo: r, Tx: tx, TmpDir: t.TempDir()}
	var total Stats
	for i, h := range sb.Parts {
		file := sb.InlinePart(i)
		if file == nil {
			if file, err = os.ReadFile(filepath.Join(dir, sb.Name.PartPath(i)[len(sb.Name.Dir())+1:])); err != nil {
				t.Fatal(err)
			}
		}
		if err := VerifyPart(bytesReader(file), &h); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		p, err := DecodePart(file, Limit(&h))
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		st, err := p.Execute(h.Objects, sink)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		total.add(st)
	}
	for _, fb := range sb.Fallbacks {
		copyObject(t, r, tx, src, fb.Checksum)
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

func TestGenerate(t *testing.T) {
	repotest.RequireOstree(t)
	ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 90, Big: 300 << 10, NoScratch: true, NoFrom: true})
	from, _ := repo.ParseChecksum(ds.From)
	to, _ := repo.ParseChecksum(ds.To)
	src, err := repo.Open(ds.Repo)
	if err != nil {
		t.Fatal(err)
	}
	want := repotest.Ostree(t, "--repo="+ds.Repo, "ls", "-R", "-C", ds.To)
	scratch, update := Name{To: to, Scratch: true}, Name{From: from, To: to}
	for _, tc := range []struct {
		name      string
		o         GenerateOptions
		mode      repo.Mode
		parts     int // at least
		fallbacks int
		bsdiff    bool // some modified files go as bsdiff patches
		copies    bool // some as stretches of their old versions
	}{
		{"scratch", GenerateOptions{Name: scratch}, repo.ModeBareUser, 1, 0, false, false},
		{"scratch archive", GenerateOptions{Name: scratch}, repo.ModeArchive, 1, 0, false, false},
		{"scratch small parts", GenerateOptions{Name: scratch, MaxChunkSize: 64 << 10}, repo.ModeBareUser, 4, 0, false, false},
		{"scratch inline", GenerateOptions{Name: scratch, Inline: true}, repo.ModeBareUser, 1, 0, false, false},
		{"scratch fallbacks", GenerateOptions{Name: scratch, MinFallbackSize: 4000}, repo.ModeBareUser, 1, 1, false, false},
		{"update", GenerateOptions{Name: update}, repo.ModeBareUser, 1, 0, true, true},
		{"update archive", GenerateOptions{Name: update}, repo.ModeArchive, 1, 0, true, true},
		{"update bsdiff only", GenerateOptions{Name: update, BsdiffOnly: true}, repo.ModeBareUser, 1, 0, true, false},
		{"update no bsdiff", GenerateOptions{Name: update, DisableBsdiff: true}, repo.ModeBareUser, 1, 0, false, false},
		{"update small parts", GenerateOptions{Name: update, MaxChunkSize: 4 << 10, Workers: 3}, repo.ModeBareUser, 2, 0, true, true},
		{"update big-endian", GenerateOptions{Name: update, BigEndian: true, MaxChunkSize: 8 << 10}, repo.ModeBareUser, 2, 0, true, true},
		{"scratch big-endian fallbacks", GenerateOptions{Name: scratch, BigEndian: true, MinFallbackSize: 4000}, repo.ModeBareUser, 1, 1, false, false},
		{"scratch big-endian inline", GenerateOptions{Name: scratch, BigEndian: true, Inline: true}, repo.ModeBareUser, 1, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Dir = filepath.Join(t.TempDir(), "delta")
			g, err := Generate(t.Context(), src, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Parts) < tc.parts || len(g.Fallbacks) < tc.fallbacks || (g.Bsdiff > 0) != tc.bsdiff || (g.Copied > 0) != tc.copies {
				t.Errorf("%d parts, %d fallbacks, %d bsdiff, %d copied; want ≥%d, ≥%d, bsdiff %v, copied %v", len(g.Parts), len(g.Fallbacks), g.Bsdiff, g.Copied, tc.parts, tc.fallbacks, tc.bsdiff, tc.copies)
			}
			sb, _, _, err := ReadSuperblockFile(filepath.Join(tc.o.Dir, "superblock"))
			if err != nil {
				t.Fatal(err)
			}
			endian, _ := sb.Metadata.Lookup("ostree.endianness")
			if want := map[bool]string{false: "l", true: "B"}[tc.o.BigEndian]; sb.Swapped != tc.o.BigEndian || string(endian.Data) != want {
				t.Errorf("superblock swapped %v, ostree.endianness %q; want %q", sb.Swapped, endian.Data, want)
			}
			if !reflect.DeepEqual(sb.Parts, g.Parts) || !reflect.DeepEqual(sb.Fallbacks, g.Fallbacks) {
				t.Errorf("superblock reads back parts %+v fallbacks %+v; generated %+v %+v", sb.Parts, sb.Fallbacks, g.Parts, g.Fallbacks)
			}
			if tc.o.Inline {
				if ents, _ := os.ReadDir(tc.o.Dir); len(ents) != 1 {
					t.Errorf("inline delta of %d files, want the superblock only", len(ents))
				}
			}
			path := filepath.Join(t.TempDir(), "client")
			repotest.Init(t, path, tc.mode.String())
			if !tc.o.Name.Scratch {
				repotest.Ostree(t, "--repo="+path, "pull-local", ds.Repo, ds.From)
			}
			r, err := repo.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			st := applyGenerated(t, r, tc.o.Dir, ds.Repo)
			if tc.bsdiff && st.Bspatch == 0 {
				t.Errorf("no bspatch ran: %+v", st)
			}
			// A copied file reads its old version, and writes its new
			// bytes with the read source unset.
			if tc.copies && (st.Write == 0 || st.SetRead <= g.Bsdiff || st.UnsetRead == 0) {
				t.Errorf("no copies ran: %+v", st)
			}
			repotest.Ostree(t, "--repo="+path, "fsck")
			if got := repotest.Ostree(t, "--repo="+path, "ls", "-R", "-C", "main"); got != want {
				t.Errorf("ls -R differs:\n%s\nwant\n%s", got, want)
			}
			if len(g.Fallbacks) > 0 || tc.mode == repo.ModeArchive && g.Bsdiff+g.Copied > 0 {
				// ostree applies offline only deltas without fallbacks, and
				// 2022.7 aborts (_ostree_repo_load_file_bare: code should
				// not be reached) on a read source in an archive repository.
				return
			}
			// ostree applies what repofs generated.
			path = filepath.Join(t.TempDir(), "ostree-client")
			repotest.Init(t, path, tc.mode.String())
			if !tc.o.Name.Scratch {
				repotest.Ostree(t, "--repo="+path, "pull-local", ds.Repo, ds.From)
			}
			repotest.Ostree(t, "--repo="+path, "static-delta", "apply-offline", tc.o.Dir)
			repotest.Ostree(t, "--repo="+path, "fsck")
			if got := repotest.Ostree(t, "--repo="+path, "ls", "-R", "-C", ds.To); got != want {
				t.Errorf("ls -R after ostree's apply-offline differs:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestGenerateSignedBigEndianNamed: a signed big-endian delta written
// under another superblock name reads back with its order, its parts and
// a signature over the unsigned superblock's bytes.
func TestGenerateSignedBigEndianNamed(t *testing.T) {
	repotest.RequireOstree(t)
	ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 10, Big: 20 << 10, NoScratch: true, NoFrom: true})
	from, _ := repo.ParseChecksum(ds.From)
	to, _ := repo.ParseChecksum(ds.To)
	src, err := repo.Open(ds.Repo)
	if err != nil {
		t.Fatal(err)
	}
	pub, sec, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	g, err := Generate(t.Context(), src, GenerateOptions{
		Name: Name{From: from, To: to}, Dir: dir, SuperblockName: "update.delta", BigEndian: true,
		Sign: func(b []byte) (string, [][]byte, error) {
			return "ostree.sign.ed25519", [][]byte{ed25519.Sign(sec, b)}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 || ents[0].Name() != "0" || ents[1].Name() != "update.delta" {
		t.Fatalf("wrote %v, want 0 and update.delta", ents)
	}
	sb, sigs, raw, err := ReadSuperblockFile(filepath.Join(dir, "update.delta"))
	if err != nil {
		t.Fatal(err)
	}
	if !sb.Swapped || !reflect.DeepEqual(sb.Parts, g.Parts) {
		t.Errorf("swapped %v, parts %+v; want big-endian %+v", sb.Swapped, sb.Parts, g.Parts)
	}
	list, err := sigs.Get("ostree.sign.ed25519")
	if err != nil || len(list) != 1 || !ed25519.Verify(pub, raw, list[0]) {
		t.Errorf("signatures %v (%v) do not verify", list, err)
	}
}
