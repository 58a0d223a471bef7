package gvariant

import "math/bits"

// Byteswap returns v with every number of more than one byte in the
// other byte order, as g_variant_byteswap does: ostree byteswaps a
// variant before printing it, so its big-endian fields (a commit's
// timestamp) print as their values.
func Byteswap(v Value) Value {
	switch v.Type[0] {
	case 'n', 'q':
		v.Num = uint64(bits.ReverseBytes16(uint16(v.Num)))
	case 'i', 'u', 'h':
		v.Num = uint64(bits.ReverseBytes32(uint32(v.Num)))
	case 'x', 't', 'd':
		v.Num = bits.ReverseBytes64(v.Num)
	}
	if len(v.Elems) > 0 {
		elems := make([]Value, len(v.Elems))
		for i, e := range v.Elems {
			elems[i] = Byteswap(e)
		}
		v.Elems = elems
	}
	return v
}
