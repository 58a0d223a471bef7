package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// makeFilez encodes a content object as an archive remote serves it, and
// returns it with its checksum.
func makeFilez(t *testing.T, fi *FileInfo, payload []byte) (Checksum, []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := writeArchive(&b, fi, bytes.NewReader(payload), 6); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write(contentStreamPrefix(fi))
	h.Write(payload)
	return Checksum(h.Sum(nil)), b.Bytes()
}

// wholeSamples are .filez of every kind WriteArchiveBytes treats apart:
// ostree's golden objects, an empty file, a symlink, an executable with
// xattrs, a payload of exactly maxStageWhole bytes (one buffer), and ones
// above it (decoded a window at a time) and above asyncHashMin.
func wholeSamples(t *testing.T) map[Checksum][]byte {
	t.Helper()
	out := goldenFilez(t)
	rng := rand.New(rand.NewPCG(1, 2))
	text := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcdefgh \n"[rng.IntN(10)]
		}
		return b
	}
	for _, s := range []struct {
		fi      FileInfo
		payload []byte
	}{
		{FileInfo{Mode: sIFREG | 0o644}, nil},
		{FileInfo{Mode: sIFLNK | 0o777, Target: "../some/where"}, nil},
		{FileInfo{Mode: sIFREG | 0o755, Xattrs: []Xattr{{"user.a", []byte("b")}}}, text(5000)},
		{FileInfo{Mode: sIFREG | 0o644}, text(maxStageWhole)},
		{FileInfo{Mode: sIFREG | 0o644}, text(maxStageWhole + 1)},
		{FileInfo{Mode: sIFREG | 0o600}, text(3 * asyncHashMin)},
	} {
		fi := s.fi
		fi.Size = uint64(len(s.payload))
		c, b := makeFilez(t, &fi, s.payload)
		out[c] = b
	}
	return out
}

// objectState is what a staged object looks like on disk: its bytes, its
// mode, owner, bare-user metadata and, but in archive mode, its mtime.
func objectState(t *testing.T, r *Repo, c Checksum) string {
	t.Helper()
	p := r.objectPath(c, ObjFile)
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	var data []byte
	if st.Mode&sIFMT == sIFLNK {
		target, err := os.Readlink(p)
		if err != nil {
			t.Fatal(err)
		}
		data = []byte(target)
	} else {
		data = readFile(t, p)
	}
	meta := make([]byte, 4096)
	n, err := unix.Lgetxattr(p, "user.ostreemeta", meta)
	if err != nil {
		n = 0
	}
	mtime := st.Mtim.Sec
	if r.mode == ModeArchive {
		mtime = 0 // when it was written
	}
	return fmt.Sprintf("%x|%x|mode 0%o mtime %d owner %d:%d", sha256.Sum256(data), meta[:n], st.Mode, mtime, st.Uid, st.Gid)
}

// TestWriteArchiveBytes: in every mode, staging a .filez held in memory
// gives the object WriteArchiveStream gives (bytes, mode, mtime, xattrs),
// fsck finds it sound, and an archive repository keeps the download's
// bytes as they came.
func TestWriteArchiveBytes(t *testing.T) {
	samples := wholeSamples(t)
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			stage := func(whole bool) *Repo {
				r, err := Init(filepath.Join(t.TempDir(), "repo"), mode)
				if err != nil {
					t.Fatal(err)
				}
				tx, err := r.Begin(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				for c, b := range samples {
					if whole {
						_, err = tx.WriteArchiveBytes(clone(b), c)
					} else {
						_, err = tx.WriteArchiveStream(bytes.NewReader(b), int64(len(b)), c)
					}
					if err != nil && !(mode == ModeBareUserOnly && strings.Contains(err.Error(), "bare-user-only")) {
						t.Fatalf("%s (whole %v): %v", c, whole, err)
					}
				}
				if err := tx.Commit(context.Background()); err != nil {
					t.Fatal(err)
				}
				return r
			}
			whole, stream := stage(true), stage(false)
			for c, b := range samples {
				has, err := stream.HasObject(c, ObjFile)
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := whole.HasObject(c, ObjFile); got != has {
					t.Fatalf("%s: staged %v, by WriteArchiveStream %v", c, got, has)
				}
				if !has {
					continue
				}
				if a, b := objectState(t, whole, c), objectState(t, stream, c); a != b {
					t.Errorf("%s: object %s, WriteArchiveStream's %s", c, a, b)
				}
				if mode == ModeArchive && !bytes.Equal(readFile(t, whole.objectPath(c, ObjFile)), b) {
					t.Errorf("%s: stored bytes differ from the download", c)
				}
			}
			rep, err := whole.Fsck(context.Background(), FsckOptions{})
			if err != nil || len(rep.Problems) > 0 {
				t.Errorf("fsck: %v %+v", err, rep)
			}
		})
	}
}

// TestWriteArchiveBytesRejects: each way a download can be wrong, in a
// payload decoded whole or a window at a time, fails with ErrCorrupt naming
// the object, and nothing is staged.
func TestWriteArchiveBytesRejects(t *testing.T) {
	samples := wholeSamples(t)
	var small, large Checksum // a payload decoded whole; one by windows
	for c, b := range samples {
		fi, _, err := parseFilez(b)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case fi.Size > 1000 && fi.Size <= maxStageWhole && small == (Checksum{}):
			small = c
		case fi.Size > asyncHashMin:
			large = c
		}
	}
	for _, c := range []Checksum{small, large} {
		good := samples[c]
		var other Checksum
		for k := range samples {
			if k != c {
				other = k
				break
			}
		}
		for _, tc := range []struct {
			name string
			data []byte
		}{
			{"flipped payload byte", flip(good, len(good)-2)},
			{"flipped early payload byte", flip(good, len(good)/2)},
			{"flipped header byte", flip(good, 9)},
			{"trailing data", append(clone(good), 0)},
			{"truncated", good[:len(good)-1]},
			{"header only", good[:len(good)/4]},
			{"another object", samples[other]},
			{"empty", nil},
		} {
			for _, mode := range []Mode{ModeArchive, ModeBareUser} {
				t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
					r, err := Init(filepath.Join(t.TempDir(), "repo"), mode)
					if err != nil {
						t.Fatal(err)
					}
					tx, err := r.Begin(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					_, err = tx.WriteArchiveBytes(tc.data, c)
					if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.String()) {
						t.Errorf("got %v, want ErrCorrupt naming %s", err, c)
					}
					if has, _ := tx.HasObject(c, ObjFile); has {
						t.Error("the bad object was staged")
					}
					if err := tx.Commit(context.Background()); err != nil {
						t.Fatal(err)
					}
					if ents, _ := os.ReadDir(filepath.Join(r.Path(), "objects")); len(ents) != 0 {
						t.Errorf("objects/ has %d entries", len(ents))
					}
				})
			}
		}
	}
}

// TestWriteArchiveBytesConcurrent: writers staging the same objects at
// once in one transaction all succeed, the first one's object stays, and
// each object is counted written once; the caller's buffer is not kept.
func TestWriteArchiveBytesConcurrent(t *testing.T) {
	samples := wholeSamples(t)
	for _, mode := range []Mode{ModeArchive, ModeBareUser} {
		t.Run(mode.String(), func(t *testing.T) {
			r, err := Init(filepath.Join(t.TempDir(), "repo"), mode)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := r.Begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8*len(samples))
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for c, b := range samples {
						buf := clone(b)
						fi, err := tx.WriteArchiveBytes(buf, c)
						if err != nil {
							errs <- err
							continue
						}
						clear(buf) // the caller reuses its buffer
						for _, x := range fi.Xattrs {
							if x.Name == "user.a" && string(x.Value) != "b" {
								errs <- errors.New("the FileInfo points into the caller's buffer")
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := tx.Stats().ContentWritten; got != uint32(len(samples)) {
				t.Errorf("%d content objects counted written, want %d", got, len(samples))
			}
			rep, err := r.Fsck(context.Background(), FsckOptions{})
			if err != nil || len(rep.Problems) > 0 {
				t.Errorf("fsck: %v %+v", err, rep)
			}
		})
	}
}
