package gvariant

// Xattr is one extended attribute as OSTree stores it: Name includes its
// terminating NUL (a GVariant bytestring), Value is the raw bytes.
type Xattr struct {
	Name  []byte
	Value []byte
}

var xattrMembers = []member{{1, 0}, {1, 0}}

// decodeXattrs decodes an a(ayay) without the normal-form check.
func decodeXattrs(data []byte) ([]Xattr, error) {
	if len(data) == 0 {
		return nil, nil
	}
	n, _, _, err := arrayHeader(data)
	if err != nil {
		return nil, err
	}
	out := make([]Xattr, 0, n)
	var parts [2][]byte
	err = splitArray(data, 1, func(_ int, elem []byte) error {
		if err := splitTuple(elem, xattrMembers, parts[:]); err != nil {
			return err
		}
		out = append(out, Xattr{parts[0], parts[1]})
		return nil
	})
	return out, err
}

func (e *encoder) xattrs(xs []Xattr) {
	start := len(e.buf)
	var offs []int
	for _, x := range xs {
		es := len(e.buf)
		e.buf = append(e.buf, x.Name...)
		nameEnd := []int{len(e.buf) - es}
		e.buf = append(e.buf, x.Value...)
		e.frame(es, nameEnd, true)
		offs = e.mark(start, offs)
	}
	e.frame(start, offs, false)
}

// XattrsValue converts xattrs to a generic a(ayay) Value for printing.
func XattrsValue(xs []Xattr) Value {
	v := Value{Type: "a(ayay)"}
	for _, x := range xs {
		v.Elems = append(v.Elems, Value{Type: "(ayay)", Elems: []Value{
			{Type: "ay", Bytes: x.Name}, {Type: "ay", Bytes: x.Value}}})
	}
	return v
}
