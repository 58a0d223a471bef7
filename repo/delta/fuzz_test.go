package delta

import (
	"bytes"
	"testing"

	"github.com/ulikunitz/xz"
)

func FuzzDecodeSuperblock(f *testing.F) {
	for _, name := range []string{"scratch.superblock", "update.superblock"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("OSTSGNDT"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if sb, err := DecodeSuperblock(data); err == nil {
			sb.Size()
			sb.CommitMeta()
			sb.InlinePart(0)
		}
		DecodeSigned(data)
	})
}

func FuzzDecodeIndex(f *testing.F) {
	f.Add(readTestdata(f, "to.index"))
	f.Fuzz(func(t *testing.T, data []byte) { DecodeIndex(data) })
}

// FuzzPart decodes a part file and runs its bytecode, both checking only
// and into a sink with a read source, against the real update delta's
// object list.
func FuzzPart(f *testing.F) {
	sb, err := DecodeSuperblock(readTestdata(f, "update.superblock"))
	if err != nil {
		f.Fatal(err)
	}
	objects := sb.Parts[0].Objects
	// The seeds are re-encoded: uncompressed (the fuzzer reaches the
	// bytecode) and xz with a 64 KiB dictionary. ostree's parts declare
	// liblzma preset 8's 32 MiB dictionary, which the xz reader allocates
	// for every input derived from them; that made this target take
	// minutes for CI's 50000 executions, without reaching more code.
	for _, name := range []string{"update.part0", "scratch.part0"} {
		p, err := DecodePart(readTestdata(f, name), 1<<22)
		if err != nil {
			f.Fatal(err)
		}
		raw, err := EncodePart(p, false)
		if err != nil {
			f.Fatal(err)
		}
		if name == "update.part0" {
			f.Add(raw)
		}
		var buf bytes.Buffer
		buf.WriteByte('x')
		w, err := xz.WriterConfig{DictCap: 64 << 10}.NewWriter(&buf)
		if err != nil {
			f.Fatal(err)
		}
		w.Write(raw[1:])
		w.Close()
		if name == "scratch.part0" {
			f.Add(buf.Bytes()[:min(buf.Len(), 4096)]) // truncated
		} else {
			f.Add(buf.Bytes())
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePart(data, 1<<22)
		if err != nil {
			return
		}
		p.Execute(objects, nil)
		sink := newMemSink()
		for _, o := range objects {
			sink.sources[o.Checksum] = bytes.Repeat([]byte{1}, 100)
		}
		p.Execute(objects, sink)
	})
}

func FuzzBspatch(f *testing.F) {
	f.Add([]byte("abcdefgh"), cat(ctrl(4, 2, 0), []byte{0, 0, 0, 1}, []byte("XY")), uint16(6))
	f.Add([]byte("abcdefgh"), cat(ctrl(2, 0, -2), []byte{0, 0}, ctrl(2, 0, 0), []byte{0, 0}), uint16(4))
	f.Fuzz(func(t *testing.T, old, patch []byte, newSize uint16) {
		var n uint64
		err := bspatch(bytes.NewReader(old), int64(len(old)), uint64(newSize), patch, func(b []byte) error {
			n += uint64(len(b))
			return nil
		})
		if n > uint64(newSize) || err == nil && n != uint64(newSize) {
			t.Fatalf("bspatch produced %d bytes of %d (err %v)", n, newSize, err)
		}
	})
}
