package gvariant

import "unicode/utf8"

func validUTF8(b []byte) bool { return utf8.Valid(b) }

// encoder appends GVariant serialisations to one buffer. Alignment is
// computed on absolute positions, which is correct because every container
// starts at a position aligned to its own alignment and the buffer starts at
// a multiple of 8.
type encoder struct {
	buf []byte
}

func (e *encoder) pad(a int) {
	for len(e.buf)%a != 0 {
		e.buf = append(e.buf, 0)
	}
}

func (e *encoder) str(s string) {
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, 0)
}

func (e *encoder) u32be(v uint32) {
	e.pad(4)
	e.buf = append(e.buf, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func (e *encoder) u64be(v uint64) {
	e.pad(8)
	e.buf = append(e.buf, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
		byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// mark records the end of a member or element relative to start.
func (e *encoder) mark(start int, offs []int) []int {
	return append(offs, len(e.buf)-start)
}

// frame appends the framing offsets of the container that began at start.
// Tuples store their offsets in reverse order, arrays in order.
func (e *encoder) frame(start int, offs []int, reverse bool) {
	if len(offs) == 0 {
		return
	}
	w := writerOffsetSize(len(e.buf)-start, len(offs))
	for i := range offs {
		o := offs[i]
		if reverse {
			o = offs[len(offs)-1-i]
		}
		for j := 0; j < w; j++ {
			e.buf = append(e.buf, byte(o>>(8*j)))
		}
	}
}
