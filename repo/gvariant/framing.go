package gvariant

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every decoding error: the bytes are not a
// normal-form serialisation of the expected type.
var ErrInvalid = errors.New("invalid gvariant")

// maxDepth bounds the nesting of containers and variants, as GLib does, so
// that hostile input cannot recurse without limit.
const maxDepth = 64

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// readerOffsetSize is the framing offset width of a container of size n.
func readerOffsetSize(n int) int {
	switch {
	case n == 0:
		return 0
	case n <= 0xff:
		return 1
	case n <= 0xffff:
		return 2
	case uint64(n) <= 0xffffffff:
		return 4
	default:
		return 8
	}
}

// writerOffsetSize is the smallest offset width that can address a body of
// size body followed by n offsets of that width.
func writerOffsetSize(body, n int) int {
	switch {
	case body+n <= 0xff:
		return 1
	case body+2*n <= 0xffff:
		return 2
	case uint64(body+4*n) <= 0xffffffff:
		return 4
	default:
		return 8
	}
}

func readLE(b []byte) int {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if v > uint64(^uint(0)>>1) {
		return -1
	}
	return int(v)
}

func alignUp(n, a int) int {
	return (n + a - 1) &^ (a - 1)
}

// member describes one element of a tuple for splitTuple.
type member struct {
	align int
	fixed int // size when fixed; 0 when variable
}

// splitTuple returns the byte ranges of the members of a tuple. It checks
// only what safety needs; normal form is checked by the caller's re-encode.
func splitTuple(data []byte, ms []member, out [][]byte) error {
	w := readerOffsetSize(len(data))
	nvar := 0
	for i, m := range ms {
		if m.fixed == 0 && i != len(ms)-1 {
			nvar++
		}
	}
	tableStart := len(data) - w*nvar
	if tableStart < 0 {
		return invalidf("tuple of %d bytes too short for %d offsets", len(data), nvar)
	}
	pos, k := 0, 0
	for i, m := range ms {
		pos = alignUp(pos, m.align)
		var end int
		switch {
		case m.fixed > 0:
			end = pos + m.fixed
		case i == len(ms)-1:
			end = tableStart
		default:
			k++
			end = readLE(data[len(data)-w*k : len(data)-w*(k-1)])
		}
		if pos > tableStart || end < pos || end > tableStart {
			return invalidf("tuple member %d out of range", i)
		}
		out[i] = data[pos:end]
		pos = end
	}
	return nil
}

// splitArray calls fn with each element of an array of variable-size
// elements. Elements are visited in order; fn may stop early by returning an
// error.
func splitArray(data []byte, elemAlign int, fn func(i int, elem []byte) error) error {
	n, w, table, err := arrayHeader(data)
	if err != nil || n == 0 {
		return err
	}
	start := 0
	for i := 0; i < n; i++ {
		end := readLE(data[table+w*i : table+w*(i+1)])
		start = alignUp(start, elemAlign)
		if end < start || end > table {
			return invalidf("array element %d out of range", i)
		}
		if err := fn(i, data[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// arrayHeader returns the element count, offset width and offset table start
// of an array of variable-size elements.
func arrayHeader(data []byte) (n, w, table int, err error) {
	if len(data) == 0 {
		return 0, 0, 0, nil
	}
	w = readerOffsetSize(len(data))
	if len(data) < w {
		return 0, 0, 0, invalidf("array too short")
	}
	table = readLE(data[len(data)-w:])
	if table < 0 || table > len(data)-w || (len(data)-table)%w != 0 {
		return 0, 0, 0, invalidf("array offset table out of range")
	}
	return (len(data) - table) / w, w, table, nil
}

// decodeString decodes an "s": UTF-8 bytes, one trailing NUL, no other NUL.
// Validity of UTF-8 is left to callers that care, because GLib's normal form
// requires it: see checkString.
func decodeString(b []byte) (string, error) {
	if len(b) == 0 || b[len(b)-1] != 0 {
		return "", invalidf("string not NUL-terminated")
	}
	s := b[:len(b)-1]
	for _, c := range s {
		if c == 0 {
			return "", invalidf("string contains NUL")
		}
	}
	if !validUTF8(s) {
		return "", invalidf("string is not valid UTF-8")
	}
	return string(s), nil
}
