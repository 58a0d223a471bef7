package pull

import "github.com/repofs/repofs/repo"

// notFoundError says what is missing in ostree's words and matches
// repo.ErrNotFound.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return repo.ErrNotFound }
