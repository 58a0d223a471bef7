package sign

import (
	"errors"
	"fmt"

	"github.com/repofs/repofs/repo/gvariant"
)

// The detached-metadata keys ostree stores signatures under, each an aay
// of signatures over the exact bytes of the commit object or summary file.
const (
	KeyGPG     = "ostree.gpgsigs"
	KeyEd25519 = "ostree.sign.ed25519"
)

// ErrNoSignatures means the detached metadata holds no signature of the
// kind asked for.
var ErrNoSignatures = errors.New("no signatures found")

// Signatures returns the signatures stored under key (KeyGPG or
// KeyEd25519) in detached metadata; none is not an error.
func Signatures(md gvariant.Metadata, key string) ([][]byte, error) {
	v, ok := md.Lookup(key)
	if !ok {
		return nil, nil
	}
	if v.Type != "aay" {
		return nil, fmt.Errorf("detached metadata: %s has type %s, want aay", key, v.Type)
	}
	val, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("detached metadata: %s: %w", key, err)
	}
	out := make([][]byte, 0, len(val.Elems))
	for _, e := range val.Elems {
		out = append(out, e.Bytes)
	}
	return out, nil
}

// AddSignature returns md with sig appended to the signatures under key;
// a signature already present is not added twice. Other entries keep
// their order.
func AddSignature(md gvariant.Metadata, key string, sig []byte) (gvariant.Metadata, error) {
	sigs, err := Signatures(md, key)
	if err != nil {
		return nil, err
	}
	for _, s := range sigs {
		if string(s) == string(sig) {
			return md, nil
		}
	}
	sigs = append(sigs, sig)
	arr := gvariant.Value{Type: "aay"}
	for _, s := range sigs {
		arr.Elems = append(arr.Elems, gvariant.Value{Type: "ay", Bytes: s})
	}
	entry := gvariant.Entry{Key: key, Value: gvariant.Variant{Type: "aay", Data: gvariant.Encode(arr)}}
	out := make(gvariant.Metadata, 0, len(md)+1)
	replaced := false
	for _, e := range md {
		if e.Key == key {
			out = append(out, entry)
			replaced = true
			continue
		}
		out = append(out, e)
	}
	if !replaced {
		out = append(out, entry)
	}
	return out, nil
}

// Detached is detached metadata (a commit's .commitmeta, a summary.sig)
// decoded for the signatures it carries; the zero Detached carries none.
type Detached struct {
	md gvariant.Metadata
}

// DecodeDetached decodes detached metadata, which must be in normal form.
// The error does not say what was decoded: the caller knows.
func DecodeDetached(data []byte) (Detached, error) {
	md, err := gvariant.DecodeMetadata(data)
	if err != nil {
		return Detached{}, err
	}
	return Detached{md}, nil
}

// Signatures returns the signatures stored under key (KeyGPG or
// KeyEd25519); none is not an error.
func (d Detached) Signatures(key string) ([][]byte, error) {
	return Signatures(d.md, key)
}
