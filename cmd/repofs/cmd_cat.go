package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/repofs/repofs/repo"
)

var catCommand = &command{
	name:    "cat",
	summary: "Write the contents of files in a commit to standard output",
	usage:   "REV PATH…",
	help: `Symlinks are followed inside the commit, never outside it. Every byte is
verified against the object's checksum; a corrupted object stops the
output with an error naming it.

Example:
  repofs --repo=repo cat os/main /etc/os-release`,
	run: runCat,
}

func runCat(e *env, args []string) error {
	if len(args) < 2 {
		return usagef("cat needs a REV and at least one PATH")
	}
	r, root, err := e.openCommit(args[0])
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(e.stdout, 256<<10)
	defer w.Flush()
	for _, p := range args[1:] {
		n, err := r.Resolve(root, p)
		if err != nil {
			if errors.Is(err, repo.ErrNotFound) && !isObjectErr(err) {
				return fmt.Errorf("No such file or directory: %s", p)
			}
			return err
		}
		if n.IsDir {
			return errors.New("Can't open directory")
		}
		_, rc, err := r.OpenFile(n.Content)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("cat %s: %w", p, err)
		}
	}
	return w.Flush()
}
