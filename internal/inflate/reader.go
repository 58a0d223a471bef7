package inflate

import "io"

const (
	history = 32 << 10 // the farthest a DEFLATE match reaches back
	// windowSize is history plus the bytes decoded between two slides.
	windowSize = history + 256<<10
)

// Reader decodes a whole raw DEFLATE stream held in memory into a window,
// a chunk at a time, for payloads too large to decode into one buffer.
// Its output's size is the caller's to check; the input must end with
// the final block, as for Decode.
type Reader struct {
	d   decoder
	r   int // read position in d.dst
	err error
}

// NewReader returns a Reader of src.
func NewReader(src []byte) *Reader {
	z := &Reader{}
	z.Reset(src)
	return z
}

// Reset makes z read src, keeping its window.
func (z *Reader) Reset(src []byte) {
	win := z.d.dst
	if win == nil {
		win = make([]byte, windowSize)
	}
	z.d.reset(src, win[:windowSize], false)
	z.r, z.err = 0, nil
}

func (z *Reader) Read(p []byte) (int, error) {
	for z.r == z.d.out {
		if z.err != nil {
			return 0, z.err
		}
		if z.d.state == stateEnd {
			z.err = io.EOF
			return 0, io.EOF
		}
		if z.d.out == len(z.d.dst) {
			// Slide: keep what matches may still reach back to.
			copy(z.d.dst, z.d.dst[z.d.out-history:z.d.out])
			z.d.out, z.r = history, history
		}
		if err := z.d.run(); err != nil {
			z.err = err
			return 0, err
		}
	}
	n := copy(p, z.d.dst[z.r:z.d.out])
	z.r += n
	return n, nil
}
