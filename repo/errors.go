package repo

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound means a ref, object or path does not exist.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt means an object's bytes do not match its name or its format.
	ErrCorrupt = errors.New("corrupted object")
	// ErrLocked means another process holds a lock this operation needs.
	ErrLocked = errors.New("repository locked")
)

// ObjectError is an error about one object; it names the object.
type ObjectError struct {
	Object string // "<checksum>.<ext>"
	Err    error
}

func (e *ObjectError) Error() string { return e.Object + ": " + e.Err.Error() }
func (e *ObjectError) Unwrap() error { return e.Err }

func corruptf(c Checksum, t ObjectType, format string, args ...any) error {
	return &ObjectError{Object: c.String() + "." + t.Ext(), Err: fmt.Errorf("%w; "+format, append([]any{ErrCorrupt}, args...)...)}
}

// notFoundObject mirrors ostree's wording for a missing object.
type notFoundObject struct {
	kind string
	name string
}

func (e *notFoundObject) Error() string { return "No such " + e.kind + " object " + e.name }
func (e *notFoundObject) Unwrap() error { return ErrNotFound }

func missing(c Checksum, t ObjectType) error {
	kind := "metadata"
	if t == ObjFile {
		kind = "content"
	}
	return &notFoundObject{kind, c.String() + "." + t.Ext()}
}

// notFoundError carries a message in ostree's words that is complete by
// itself, while still matching ErrNotFound.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return ErrNotFound }

func notFoundf(format string, args ...any) error {
	return &notFoundError{fmt.Sprintf(format, args...)}
}
