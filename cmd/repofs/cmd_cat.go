package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/repofs/repofs/repo"
)

var catCommand = &command{
	name:    "cat",
	summary: "Write the contents of files in a commit to standard output",
	usage:   "REV PATH…",
	help: `Symlinks are followed inside the commit, never outside it. Each file is
verified against its object's checksum before any of it is written; a
corrupted object writes nothing and ends the output with an error naming
it.

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
		if err := catFile(e.ctx, w, r, n.Content); err != nil {
			return fmt.Errorf("cat %s: %w", p, err)
		}
	}
	return w.Flush()
}

// catWhole bounds the files cat reads into memory, verified, before
// writing them; a larger one is verified in a pass of its own first.
const catWhole = 64 << 20

// catFile writes the payload of content object c to w, nothing of it
// unless it is intact: a reader of the output must never take a corrupted
// file's first bytes for the file.
func catFile(ctx context.Context, w io.Writer, r *repo.Repo, c repo.Checksum) error {
	fi, err := r.StatFile(c)
	if err != nil || fi.IsSymlink() { // Resolve followed symlinks: not one
		return err
	}
	if fi.Size <= catWhole {
		b := make([]byte, fi.Size)
		if _, err := r.ReadFileInto(c, b); err != nil {
			return err
		}
		_, err := w.Write(b)
		return err
	}
	if err := r.VerifyContent(ctx, c, fi); err != nil {
		return err
	}
	// Verified again as it is read: an object changed since (by
	// another program) still ends with an error.
	_, rc, err := r.OpenFile(c)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}
