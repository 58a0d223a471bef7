package delta

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/repofs/repofs/repo"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// memSink keeps what a part produces; sources are given.
type memSink struct {
	objects map[repo.Checksum][]byte
	sources map[repo.Checksum][]byte
}

func newMemSink() *memSink {
	return &memSink{objects: map[repo.Checksum][]byte{}, sources: map[repo.Checksum][]byte{}}
}

func (s *memSink) Has(Object) (bool, error) { return false, nil }
func (s *memSink) WriteMetadata(o Object, data []byte) error {
	s.objects[o.Checksum] = bytes.Clone(data)
	return nil
}
func (s *memSink) WriteContent(o Object, fi *repo.FileInfo, payload io.Reader) error {
	var b []byte
	if payload != nil {
		var err error
		if b, err = io.ReadAll(io.LimitReader(payload, int64(fi.Size)+1)); err != nil {
			return err
		}
	}
	if uint64(len(b)) != fi.Size {
		return errors.New("payload size mismatch")
	}
	s.objects[o.Checksum] = b
	return nil
}
func (s *memSink) OpenSource(c repo.Checksum) (Source, error) {
	b, ok := s.sources[c]
	if !ok {
		return nil, repo.ErrNotFound
	}
	return &memSource{b: b}, nil
}

func TestDecodeOstreeDeltas(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scratch bool
	}{{"scratch", true}, {"update", false}} {
		t.Run(tc.name, func(t *testing.T) {
			data := readTestdata(t, tc.name+".superblock")
			sb, err := DecodeSuperblock(data)
			if err != nil {
				t.Fatal(err)
			}
			if sb.Name.Scratch != tc.scratch || len(sb.Parts) != 1 || sb.Swapped {
				t.Fatalf("superblock %+v", sb)
			}
			if v, ok := sb.Metadata.Lookup("ostree.endianness"); !ok || string(v.Data) != "l" {
				t.Errorf("ostree.endianness = %v %v", v, ok)
			}
			// The encoder writes the same bytes back.
			again, err := EncodeSuperblock(sb)
			if err != nil || !bytes.Equal(again, data) {
				t.Errorf("re-encoded superblock differs (%v)", err)
			}
			part := readTestdata(t, tc.name+".part0")
			h := &sb.Parts[0]
			if err := VerifyPart(bytes.NewReader(part), h); err != nil {
				t.Fatal(err)
			}
			p, err := DecodePart(part, Limit(h))
			if err != nil {
				t.Fatal(err)
			}
			st, err := p.Execute(h.Objects, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.scratch && st.SpliceClose != len(h.Objects) || !tc.scratch && st.Bspatch+st.Write == 0 {
				t.Errorf("stats %+v for %d objects", st, len(h.Objects))
			}
			// A flipped byte fails verification.
			bad := bytes.Clone(part)
			bad[len(bad)/2] ^= 1
			if err := VerifyPart(bytes.NewReader(bad), h); !errors.Is(err, ErrInvalid) {
				t.Errorf("flipped byte: %v", err)
			}
			if err := VerifyPart(bytes.NewReader(part[:len(part)-1]), h); !errors.Is(err, ErrInvalid) {
				t.Errorf("truncated: %v", err)
			}
		})
	}
	idx, err := DecodeIndex(readTestdata(t, "to.index"))
	if err != nil || len(idx) != 2 {
		t.Errorf("index: %v %v", idx, err)
	}
}

func TestPartRoundTrip(t *testing.T) {
	sb, err := DecodeSuperblock(readTestdata(t, "update.superblock"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePart(readTestdata(t, "update.part0"), Limit(&sb.Parts[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, compress := range []bool{false, true} {
		file, err := EncodePart(p, compress)
		if err != nil {
			t.Fatal(err)
		}
		q, err := DecodePart(file, Limit(&sb.Parts[0]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(q.Blob, p.Blob) || !bytes.Equal(q.Ops, p.Ops) || len(q.Modes) != len(p.Modes) || len(q.Xattrs) != len(p.Xattrs) {
			t.Errorf("compress=%v: round trip differs", compress)
		}
	}
}

func uv(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func op(code byte, args ...uint64) []byte { return append([]byte{code}, uv(args...)...) }

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// ctrl is one bsdiff control triple.
func ctrl(add, cp, seek int64) []byte {
	enc := func(v int64) []byte {
		b := make([]byte, 8)
		neg := v < 0
		if neg {
			v = -v
		}
		binary.LittleEndian.PutUint64(b, uint64(v))
		if neg {
			b[7] |= 0x80
		}
		return b
	}
	return cat(enc(add), enc(cp), enc(seek))
}

func TestHostileBytecode(t *testing.T) {
	src := repo.Checksum(sha256.Sum256([]byte("old")))
	old := []byte("0123456789")
	file := Object{Type: repo.ObjFile, Checksum: repo.Checksum(sha256.Sum256([]byte("new")))}
	dirtree := Object{Type: repo.ObjDirTree, Checksum: file.Checksum}
	blob := cat([]byte("hello world"), src[:]) // checksum at 11
	reg := []Mode{{0, 0, 0o100644}, {0, 0, 0o040755}}
	for _, tc := range []struct {
		name string
		objs []Object
		ops  []byte
	}{
		{"write past the object", []Object{file}, cat(op('o', 0, 0, 3), op('w', 5, 0))},
		{"writes add up past the object", []Object{file}, cat(op('o', 0, 0, 6), op('w', 5, 0), op('w', 5, 0))},
		{"close short", []Object{file}, cat(op('o', 0, 0, 6), op('w', 5, 0), op('c'))},
		{"write past the blob", []Object{file}, cat(op('o', 0, 0, 100), op('w', 50, 0))},
		{"write offset overflow", []Object{file}, cat(op('o', 0, 0, 100), op('w', 2, 1<<64-1))},
		{"write past the read source", []Object{file}, cat(op('r', 11), op('o', 0, 0, 100), op('w', 20, 0))},
		{"write with nothing open", []Object{file}, op('w', 1, 0)},
		{"huge declared size, splice", []Object{file}, op('S', 0, 0, 1<<60, 0)},
		{"huge declared size, open", []Object{file}, cat(op('o', 0, 0, 1<<60), op('c'))},
		{"metadata past the blob", []Object{dirtree}, op('S', 1<<40, 0)},
		{"mode out of range", []Object{file}, op('S', 7, 0, 1, 0)},
		{"xattrs out of range", []Object{file}, op('S', 0, 9, 1, 0)},
		{"directory mode", []Object{file}, op('S', 1, 0, 1, 0)},
		{"open of metadata", []Object{dirtree}, op('o', 0, 0, 1)},
		{"set-read-source past the blob", []Object{file}, op('r', 30)},
		{"unknown opcode", []Object{file}, []byte{'z'}},
		{"truncated varint", []Object{file}, []byte{'S', 0x80}},
		{"overlong varint", []Object{file}, append([]byte{'S'}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"more objects than listed", []Object{file}, cat(op('S', 0, 0, 1, 0), op('S', 0, 0, 1, 0))},
		{"fewer objects than listed", []Object{file, file}, op('S', 0, 0, 1, 0)},
		{"ends open", []Object{file}, op('o', 0, 0, 1)},
		{"bspatch without source", []Object{file}, cat(op('o', 0, 0, 4), op('B', 0, 4))},
		{"bspatch past the blob", []Object{file}, cat(op('r', 11), op('o', 0, 0, 4), op('B', 0, 400))},
		{"bspatch after a write", []Object{file}, cat(op('r', 11), op('o', 0, 0, 4), op('w', 1, 0), op('B', 0, 4))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Part{Modes: reg, Xattrs: [][]repo.Xattr{nil}, Blob: blob, Ops: tc.ops}
			sink := newMemSink()
			sink.sources[src] = old
			if _, err := p.Execute(tc.objs, sink); !errors.Is(err, ErrInvalid) {
				t.Errorf("Execute: %v, want ErrInvalid", err)
			}
			if _, err := p.Execute(tc.objs, nil); !errors.Is(err, ErrInvalid) {
				t.Errorf("Execute without sink: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestBspatch(t *testing.T) {
	old := []byte("abcdefgh")
	for _, tc := range []struct {
		name    string
		patch   []byte
		newSize uint64
		want    string // "" means an error
	}{
		{"copy with diff", cat(ctrl(4, 2, 0), []byte{0, 0, 0, 1}, []byte("XY")), 6, "abceXY"},
		{"seek back", cat(ctrl(2, 0, -2), []byte{0, 0}, ctrl(2, 0, 0), []byte{0, 0}), 4, "abab"},
		{"old bytes outside count as zero", cat(ctrl(0, 0, -6), ctrl(6, 0, 0), []byte("123456")), 6, "123456"},
		{"diff past new size", cat(ctrl(9, 0, 0), make([]byte, 9)), 4, ""},
		{"extra past new size", cat(ctrl(0, 9, 0), make([]byte, 9)), 4, ""},
		{"diff past the patch", ctrl(4, 0, 0), 4, ""},
		{"negative length", ctrl(-1, 0, 0), 4, ""},
		{"length over int32", ctrl(1<<40, 0, 0), 1 << 41, ""},
		{"seek overflow", cat(ctrl(0, 1, 1<<62), []byte("a"), ctrl(0, 1, 1<<62), []byte("b")), 4, ""},
		{"control past the patch", []byte{1, 2, 3}, 4, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out []byte
			err := bspatch(bytes.NewReader(old), int64(len(old)), tc.newSize, tc.patch, func(b []byte) error {
				out = append(out, b...)
				return nil
			})
			if tc.want == "" {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("err %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || string(out) != tc.want {
				t.Errorf("got %q %v, want %q", out, err, tc.want)
			}
		})
	}
}

func TestPartLimit(t *testing.T) {
	h := &PartHeader{USize: 10}
	p := &Part{Modes: []Mode{{0, 0, 0o100644}}, Xattrs: [][]repo.Xattr{nil}, Blob: make([]byte, 4<<20)}
	file, err := EncodePart(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodePart(file, Limit(h)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a part decompressing past its limit: %v, want ErrInvalid", err)
	}
}

func TestSpilledPart(t *testing.T) {
	defer func(n int) { memLimit = n }(memLimit)
	memLimit = 1 << 10
	blob := bytes.Repeat([]byte("spill"), 1000)
	file, err := EncodePart(&Part{Blob: blob, Ops: []byte{'R'}}, true)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ReadPart(bytes.NewReader(file), 1<<20, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !bytes.Equal(p.Blob, blob) || p.unmap == nil {
		t.Errorf("spilled part: blob %d bytes, mapped %v", len(p.Blob), p.unmap != nil)
	}
	if _, err := ReadPart(bytes.NewReader(file), 1<<20, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("no spill directory: %v", err)
	}
}

func BenchmarkDecodePart(b *testing.B) {
	part := readTestdata(b, "update.part0")
	for b.Loop() {
		if _, err := DecodePart(part, 1<<22); err != nil {
			b.Fatal(err)
		}
	}
}

// failingSink fails its nth write (counting from 1), concurrently safe.
type failingSink struct {
	*memSink
	mu      sync.Mutex
	n, fail int
	workers int
}

var errWrite = errors.New("write failed")

func (s *failingSink) Workers() int { return s.workers }
func (s *failingSink) count() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.n == s.fail {
		return errWrite
	}
	return nil
}
func (s *failingSink) WriteMetadata(o Object, data []byte) error {
	if err := s.count(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.memSink.WriteMetadata(o, data)
}
func (s *failingSink) WriteContent(o Object, fi *repo.FileInfo, payload io.Reader) error {
	if err := s.count(); err != nil {
		return err
	}
	var b []byte
	if payload != nil {
		b, _ = io.ReadAll(payload)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.memSink.WriteContent(o, fi, bytes.NewReader(b))
}

// TestExecuteConcurrentSink: a concurrent sink gets the same objects as
// a sequential one, and a write that fails fails the part with its error.
func TestExecuteConcurrentSink(t *testing.T) {
	sb, err := DecodeSuperblock(readTestdata(t, "scratch.superblock"))
	if err != nil {
		t.Fatal(err)
	}
	h := &sb.Parts[0]
	p, err := DecodePart(readTestdata(t, "scratch.part0"), Limit(h))
	if err != nil {
		t.Fatal(err)
	}
	seq := newMemSink()
	if _, err := p.Execute(h.Objects, seq); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		workers, fail int
	}{{"4 workers", 4, 0}, {"1 worker", 1, 0}, {"4 workers, 3rd write fails", 4, 3}, {"4 workers, last write fails", 4, len(h.Objects)}} {
		t.Run(tc.name, func(t *testing.T) {
			s := &failingSink{memSink: newMemSink(), fail: tc.fail, workers: tc.workers}
			_, err := p.Execute(h.Objects, s)
			if tc.fail != 0 {
				if !errors.Is(err, errWrite) {
					t.Fatalf("Execute: %v, want the sink's failure", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.objects) != len(seq.objects) {
				t.Fatalf("%d objects, sequentially %d", len(s.objects), len(seq.objects))
			}
			for c, b := range seq.objects {
				if !bytes.Equal(s.objects[c], b) {
					t.Errorf("object %s differs", c)
				}
			}
		})
	}
}

// countingSink counts the sources opened and those still open.
type countingSink struct {
	*memSink
	opened, open int
}

type countedSource struct {
	Source
	s *countingSink
}

func (c countedSource) Close() error { c.s.open--; return c.Source.Close() }

func (s *countingSink) OpenSource(c repo.Checksum) (Source, error) {
	src, err := s.memSink.OpenSource(c)
	if err != nil {
		return nil, err
	}
	s.opened++
	s.open++
	return countedSource{src, s}, nil
}

// TestExecuteCopies: a file made of stretches of its old version and new
// bytes of the blob, switching the read source on and off, reads the
// blob while it is unset, opens each source once and closes it.
func TestExecuteCopies(t *testing.T) {
	old1, old2 := []byte("0123456789"), []byte("abcdefghij")
	src1, src2 := repo.Checksum(sha256.Sum256(old1)), repo.Checksum(sha256.Sum256(old2))
	blob := cat([]byte("hello world"), src1[:], src2[:]) // checksums at 11 and 43
	obj := func(s string) Object {
		return Object{Type: repo.ObjFile, Checksum: repo.Checksum(sha256.Sum256([]byte(s)))}
	}
	a, b := obj("a"), obj("b")
	ops := cat(
		op('r', 11), op('o', 0, 0, 15), op('w', 4, 0), op('R'), op('w', 5, 0), op('r', 11), op('w', 3, 7), op('R'),
		op('w', 3, 20), op('c'), // 3 bytes of the blob at 20: past the 10-byte source
		op('r', 43), op('o', 0, 0, 6), op('w', 3, 0), op('R'), op('r', 11), op('w', 3, 0), op('c'),
	)
	p := &Part{Modes: []Mode{{0, 0, 0o100644}}, Xattrs: [][]repo.Xattr{nil}, Blob: blob, Ops: ops}
	sink := &countingSink{memSink: newMemSink()}
	sink.sources[src1], sink.sources[src2] = old1, old2
	st, err := p.Execute([]Object{a, b}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(sink.objects[a.Checksum]), "0123hello789"+string(blob[20:23]); got != want {
		t.Errorf("first object %q, want %q", got, want)
	}
	if got := string(sink.objects[b.Checksum]); got != "abc012" {
		t.Errorf("second object %q, want abc012", got)
	}
	if sink.opened != 3 || sink.open != 0 {
		t.Errorf("%d sources opened, %d left open; want 3 and 0", sink.opened, sink.open)
	}
	if st.SetRead != 4 || st.UnsetRead != 3 || st.Write != 6 {
		t.Errorf("stats %+v", st)
	}
	// A failing part closes its sources too.
	sink = &countingSink{memSink: newMemSink()}
	sink.sources[src1] = old1
	p.Ops = cat(op('r', 11), op('o', 0, 0, 15), op('w', 4, 0), op('R'), op('w', 50, 0))
	if _, err := p.Execute([]Object{a}, sink); !errors.Is(err, ErrInvalid) || sink.open != 0 {
		t.Errorf("Execute: %v with %d sources open; want ErrInvalid and none", err, sink.open)
	}
}
