package delta

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// bspatch applies a raw bsdiff stream (see the package doc) to old,
// producing newSize bytes through emit in order. It stops at the first
// control triple that would read past the patch, write past newSize or
// move the old position out of int64, and never allocates by a size the
// patch declares.
func bspatch(old io.ReaderAt, oldSize int64, newSize uint64, patch []byte, emit func([]byte) error) error {
	var newPos uint64
	var oldPos int64
	buf, obuf := getBuf(64<<10), getBuf(64<<10)
	defer putBuf(buf)
	defer putBuf(obuf)
	obuf = obuf[:cap(obuf)]
	for newPos < newSize {
		if len(patch) < 24 {
			return invalidf("bspatch: control block past the end of the patch at %d of %d bytes", newPos, newSize)
		}
		add, cp, seek := offtin(patch[0:8]), offtin(patch[8:16]), offtin(patch[16:24])
		patch = patch[24:]
		if add < 0 || add > math.MaxInt32 || cp < 0 || cp > math.MaxInt32 {
			return invalidf("bspatch: control lengths %d, %d", add, cp)
		}
		if uint64(add) > newSize-newPos || uint64(add) > uint64(len(patch)) {
			return invalidf("bspatch: diff of %d bytes past the new file or the patch", add)
		}
		diff := patch[:add]
		patch = patch[add:]
		for len(diff) > 0 {
			n := min(len(diff), cap(buf))
			buf = append(buf[:0], diff[:n]...)
			if err := addOld(buf, old, oldSize, oldPos, obuf[:n]); err != nil {
				return err
			}
			if err := emit(buf); err != nil {
				return err
			}
			diff = diff[n:]
			oldPos += int64(n) // |oldPos| ≤ maxPos + MaxInt32
		}
		newPos += uint64(add)
		if uint64(cp) > newSize-newPos || uint64(cp) > uint64(len(patch)) {
			return invalidf("bspatch: extra of %d bytes past the new file or the patch", cp)
		}
		if cp > 0 {
			if err := emit(patch[:cp]); err != nil {
				return err
			}
		}
		patch = patch[cp:]
		newPos += uint64(cp)
		// No old file is 2^62 bytes: bounding the position keeps every sum
		// below from overflowing.
		if seek > maxPos || seek < -maxPos || oldPos+seek > maxPos || oldPos+seek < -maxPos {
			return invalidf("bspatch: old position %d moved by %d", oldPos, seek)
		}
		oldPos += seek
	}
	return nil
}

const maxPos = 1 << 62

// addOld adds the old file's bytes at pos to buf, bytewise modulo 256;
// bytes outside the old file count as zero.
func addOld(buf []byte, old io.ReaderAt, oldSize, pos int64, obuf []byte) error {
	lo, hi := max(pos, 0), min(pos+int64(len(buf)), oldSize)
	if lo >= hi {
		return nil
	}
	o := obuf[:hi-lo]
	if err := readAt(old, o, lo); err != nil {
		return fmt.Errorf("bspatch: %w", err)
	}
	d := buf[lo-pos:]
	for i, b := range o {
		d[i] += b
	}
	return nil
}

// offtin decodes bsdiff's 8-byte sign-magnitude little-endian integer.
func offtin(b []byte) int64 {
	v := int64(binary.LittleEndian.Uint64(b) &^ (1 << 63))
	if b[7]&0x80 != 0 {
		return -v
	}
	return v
}
