package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/repofs/repofs/repo"
)

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitCorrupt     = 3
	exitLocked      = 4
	exitInterrupted = 130
)

// usageError is a command line mistake: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitCodeError carries an exit code chosen by a command (fsck's 3).
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

// exitCode prints err and maps it to the process exit code; this is the one
// place where errors become exit codes.
func exitCode(err error, stderr io.Writer, c *command) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	var ue *usageError
	var ce *exitCodeError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "usage: repofs %s %s\n", c.name, c.usage)
		return exitUsage
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, repo.ErrLocked):
		return exitLocked
	}
	return exitError
}

// pathErr renders a lookup error in GIO's words, as ostree prints them.
func pathErr(err error, p string) error {
	switch {
	case errors.Is(err, repo.ErrNotDir):
		return err
	case errors.Is(err, repo.ErrNotFound) && !isObjectErr(err):
		return fmt.Errorf("No such file or directory: %s", p)
	}
	return err
}

// isObjectErr tells an error about an object (missing, corrupt, or any
// wrapped error) from repo's bare ErrNotFound for a path that is absent.
func isObjectErr(err error) bool {
	var oe *repo.ObjectError
	return errors.As(err, &oe) || errors.Is(err, repo.ErrCorrupt) || errors.Unwrap(err) != nil
}
