package gvariant

import (
	"bytes"
	"encoding/binary"
	"math"
)

// Value is a decoded GVariant of any type, used for variant contents whose
// type is only known at run time (commit and summary metadata).
type Value struct {
	Type  string
	Num   uint64  // y b n q i u x t h d (d as IEEE bits), in host (little-endian) order as GLib stores them
	Str   string  // s o g
	Bytes []byte  // ay
	Elems []Value // other arrays, tuples, dict entries, a present maybe (one element), a variant's child (one element)
}

// Decode decodes data as a normal-form value of type t.
func Decode(t string, data []byte) (Value, error) {
	if !ValidType(t) {
		return Value{}, invalidf("bad type string %q", t)
	}
	v, err := decodeValue(t, data, 0)
	if err != nil {
		return Value{}, err
	}
	if !bytes.Equal(Encode(v), data) {
		return Value{}, invalidf("%s value not in normal form", t)
	}
	return v, nil
}

func decodeValue(t string, data []byte, depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, invalidf("nesting deeper than %d", maxDepth)
	}
	v := Value{Type: t}
	_, fixed := typeInfo(t)
	if fixed > 0 && len(data) != fixed {
		return v, invalidf("%s value of %d bytes, want %d", t, len(data), fixed)
	}
	switch t[0] {
	case 'y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 'h':
		var n uint64
		for i := len(data) - 1; i >= 0; i-- {
			n = n<<8 | uint64(data[i])
		}
		if t[0] == 'b' && n > 1 {
			return v, invalidf("boolean %d", n)
		}
		v.Num = n
	case 's', 'o', 'g':
		s, err := decodeString(data)
		if err != nil {
			return v, err
		}
		v.Str = s
	case 'v':
		i := bytes.LastIndexByte(data, 0)
		if i < 0 || !ValidType(string(data[i+1:])) {
			return v, invalidf("variant without a valid type")
		}
		child, err := decodeValue(string(data[i+1:]), data[:i], depth+1)
		if err != nil {
			return v, err
		}
		v.Elems = []Value{child}
	case 'm':
		if len(data) == 0 {
			return v, nil
		}
		et := t[1:]
		_, f := typeInfo(et)
		if f == 0 {
			if data[len(data)-1] != 0 {
				return v, invalidf("maybe without trailing NUL")
			}
			data = data[:len(data)-1]
		}
		child, err := decodeValue(et, data, depth+1)
		if err != nil {
			return v, err
		}
		v.Elems = []Value{child}
	case 'a':
		return decodeArray(v, data, depth)
	case '(', '{':
		ts := memberTypes(t)
		ms := make([]member, len(ts))
		for i, mt := range ts {
			ms[i].align, ms[i].fixed = typeInfo(mt)
		}
		parts := make([][]byte, len(ts))
		if err := splitTuple(data, ms, parts); err != nil {
			return v, err
		}
		v.Elems = make([]Value, len(ts))
		for i, mt := range ts {
			child, err := decodeValue(mt, parts[i], depth+1)
			if err != nil {
				return v, err
			}
			v.Elems[i] = child
		}
	}
	return v, nil
}

func decodeArray(v Value, data []byte, depth int) (Value, error) {
	et := v.Type[1:]
	if et == "y" {
		v.Bytes = data
		return v, nil
	}
	align, fixed := typeInfo(et)
	if fixed > 0 {
		if len(data)%fixed != 0 {
			return v, invalidf("%s of %d bytes is not a multiple of %d", v.Type, len(data), fixed)
		}
		v.Elems = make([]Value, 0, len(data)/fixed)
		for off := 0; off < len(data); off += fixed {
			child, err := decodeValue(et, data[off:off+fixed], depth+1)
			if err != nil {
				return v, err
			}
			v.Elems = append(v.Elems, child)
		}
		return v, nil
	}
	n, _, _, err := arrayHeader(data)
	if err != nil {
		return v, err
	}
	v.Elems = make([]Value, 0, n)
	err = splitArray(data, align, func(_ int, elem []byte) error {
		child, err := decodeValue(et, elem, depth+1)
		v.Elems = append(v.Elems, child)
		return err
	})
	return v, err
}

// Encode returns the normal-form serialisation of v.
func Encode(v Value) []byte {
	var e encoder
	e.value(v)
	return e.buf
}

func (e *encoder) value(v Value) {
	t := v.Type
	switch t[0] {
	case 'y', 'b':
		e.buf = append(e.buf, byte(v.Num))
	case 'n', 'q':
		e.pad(2)
		e.buf = binary.LittleEndian.AppendUint16(e.buf, uint16(v.Num))
	case 'i', 'u', 'h':
		e.pad(4)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(v.Num))
	case 'x', 't', 'd':
		e.pad(8)
		e.buf = binary.LittleEndian.AppendUint64(e.buf, v.Num)
	case 's', 'o', 'g':
		e.str(v.Str)
	case 'v':
		e.pad(8)
		if len(v.Elems) == 1 {
			e.value(v.Elems[0])
			e.buf = append(e.buf, 0)
			e.buf = append(e.buf, v.Elems[0].Type...)
		}
	case 'm':
		if len(v.Elems) == 1 {
			align, fixed := typeInfo(t[1:])
			e.pad(align)
			e.value(v.Elems[0])
			if fixed == 0 {
				e.buf = append(e.buf, 0)
			}
		}
	case 'a':
		if t[1] == 'y' {
			e.buf = append(e.buf, v.Bytes...)
			return
		}
		align, fixed := typeInfo(t[1:])
		e.pad(align)
		start := len(e.buf)
		var offs []int
		for _, c := range v.Elems {
			e.pad(align)
			e.value(c)
			if fixed == 0 {
				offs = e.mark(start, offs)
			}
		}
		e.frame(start, offs, false)
	case '(', '{':
		align, fixed := typeInfo(t)
		e.pad(align)
		start := len(e.buf)
		if len(v.Elems) == 0 {
			e.buf = append(e.buf, 0) // "()"
			return
		}
		var offs []int
		for i, c := range v.Elems {
			e.value(c)
			if _, f := typeInfo(c.Type); f == 0 && i != len(v.Elems)-1 {
				offs = e.mark(start, offs)
			}
		}
		if fixed > 0 {
			e.pad(align)
		}
		e.frame(start, offs, true)
	}
}

// Float returns the value of a "d".
func (v Value) Float() float64 { return math.Float64frombits(v.Num) }
