package gvariant

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Variant is a value of type "v": a serialised child and its type.
type Variant struct {
	Type string
	Data []byte
}

// Value decodes the variant's child.
func (v Variant) Value() (Value, error) { return Decode(v.Type, v.Data) }

// String returns the child of an "s" variant.
func (v Variant) String() (string, error) {
	if v.Type != "s" {
		return "", fmt.Errorf("%w: want type s, have %s", ErrInvalid, v.Type)
	}
	return decodeString(v.Data)
}

// Print renders the variant's child in GVariant text format, type-annotated.
func (v Variant) Print() string {
	val, err := v.Value()
	if err != nil {
		return fmt.Sprintf("<invalid %s: %v>", v.Type, err)
	}
	return Print(val, true)
}

// Uint64BE returns the child of a "t" variant that OSTree stored big-endian.
func (v Variant) Uint64BE() (uint64, error) {
	if v.Type != "t" || len(v.Data) != 8 {
		return 0, fmt.Errorf("%w: want type t, have %s", ErrInvalid, v.Type)
	}
	return binary.BigEndian.Uint64(v.Data), nil
}

// StringVariant makes an "s" variant.
func StringVariant(s string) Variant { return Variant{"s", append([]byte(s), 0)} }

// StringsVariant makes an "as" variant.
func StringsVariant(ss []string) Variant {
	v := Value{Type: "as"}
	for _, s := range ss {
		v.Elems = append(v.Elems, Value{Type: "s", Str: s})
	}
	return Variant{"as", Encode(v)}
}

// Uint64BEVariant makes a "t" variant holding n big-endian, as OSTree does
// for the timestamps it defines.
func Uint64BEVariant(n uint64) Variant {
	return Variant{"t", binary.BigEndian.AppendUint64(nil, n)}
}

// BoolVariant makes a "b" variant.
func BoolVariant(b bool) Variant {
	if b {
		return Variant{"b", []byte{1}}
	}
	return Variant{"b", []byte{0}}
}

// BytesVariant makes an "ay" variant.
func BytesVariant(b []byte) Variant { return Variant{"ay", b} }

// Entry is one key of an a{sv} dictionary.
type Entry struct {
	Key   string
	Value Variant
}

// Metadata is an a{sv} dictionary in stored order. OSTree writes these in
// hash-table order, so the order is kept and never assumed sorted.
type Metadata []Entry

// Lookup returns the first entry with the key.
func (m Metadata) Lookup(key string) (Variant, bool) {
	for _, e := range m {
		if e.Key == key {
			return e.Value, true
		}
	}
	return Variant{}, false
}

// DecodeMetadata decodes an a{sv} in normal form.
func DecodeMetadata(data []byte) (Metadata, error) {
	m, err := decodeMetadata(data)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(EncodeMetadata(m), data) {
		return nil, invalidf("a{sv} not in normal form")
	}
	return m, nil
}

var entryMembers = []member{{1, 0}, {8, 0}}

// decodeMetadata decodes without the normal-form check; it checks each
// variant's child and type.
func decodeMetadata(data []byte) (Metadata, error) {
	n, _, _, err := arrayHeader(data)
	if err != nil {
		return nil, err
	}
	m := make(Metadata, 0, n)
	var parts [2][]byte
	err = splitArray(data, 8, func(i int, elem []byte) error {
		if err := splitTuple(elem, entryMembers, parts[:]); err != nil {
			return err
		}
		key, err := decodeString(parts[0])
		if err != nil {
			return fmt.Errorf("metadata key %d: %w", i, err)
		}
		v, err := decodeVariant(parts[1])
		if err != nil {
			return fmt.Errorf("metadata %q: %w", key, err)
		}
		m = append(m, Entry{key, v})
		return nil
	})
	return m, err
}

func decodeVariant(b []byte) (Variant, error) {
	i := bytes.LastIndexByte(b, 0)
	if i < 0 {
		return Variant{}, invalidf("variant without type")
	}
	v := Variant{Type: string(b[i+1:]), Data: b[:i]}
	if _, err := Decode(v.Type, v.Data); err != nil {
		return Variant{}, err
	}
	return v, nil
}

// EncodeMetadata returns the normal-form serialisation of m.
func EncodeMetadata(m Metadata) []byte {
	var e encoder
	e.metadata(m)
	return e.buf
}

func (e *encoder) metadata(m Metadata) {
	e.pad(8)
	start := len(e.buf)
	var offs []int
	for _, en := range m {
		e.pad(8)
		es := len(e.buf)
		e.str(en.Key)
		keyEnd := []int{len(e.buf) - es}
		e.variant(en.Value)
		e.frame(es, keyEnd, true)
		offs = e.mark(start, offs)
	}
	e.frame(start, offs, false)
}

func (e *encoder) variant(v Variant) {
	e.pad(8)
	e.buf = append(e.buf, v.Data...)
	e.buf = append(e.buf, 0)
	e.buf = append(e.buf, v.Type...)
}
