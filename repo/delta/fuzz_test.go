package delta

import (
	"bytes"
	"testing"
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
	part := readTestdata(f, "update.part0")
	f.Add(part)
	if p, err := DecodePart(part, 1<<22); err == nil {
		if raw, err := EncodePart(p, false); err == nil {
			f.Add(raw) // uncompressed: the fuzzer reaches the bytecode
		}
	}
	f.Add(readTestdata(f, "scratch.part0")[:4096])
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
