package main

import (
	"errors"
	"fmt"

	"github.com/repofs/repofs/repo"
)

var resetCommand = &command{
	name:    "reset",
	summary: "Point an existing ref at another commit",
	usage:   "REF COMMIT",
	help: `Moves REF (a local ref, or REMOTE:REF) to COMMIT (any REV), as 'ostree
reset' does. Like ostree 2022.7 it accepts any commit, not only one of
the ref's ancestors; unlike ostree it refuses a commit that is not in the
repository, so a ref never points at a missing object. REF must already
exist: to create one, use 'refs --create'.

Examples:
  repofs --repo=repo reset os/main os/main^
  repofs --repo=repo reset origin:os/main 3b1f0c…`,
	run: runReset,
}

func runReset(e *env, args []string) error {
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	if len(args) < 2 {
		return errors.New("A REF and COMMIT argument is required")
	}
	refs, err := r.ListRefs("", true)
	if err != nil {
		return err
	}
	var ref *repo.Ref
	for i := range refs {
		if refs[i].String() == args[0] {
			ref = &refs[i]
		}
	}
	if ref == nil {
		return fmt.Errorf("Invalid ref '%s'", args[0])
	}
	c, err := r.ResolveRev(args[1])
	if err != nil {
		return err
	}
	if _, err := r.ReadCommit(c); err != nil {
		return fmt.Errorf("reset %s to %s: %w", args[0], c, err)
	}
	return r.SetRefImmediate(e.ctx, ref.Remote, ref.Name, c)
}
