package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/repofs/repofs/repo"
)

// env is what every command gets.
type env struct {
	ctx      context.Context
	repoPath string
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
}

// openRepo opens the repository named by --repo or the environment.
func (e *env) openRepo() (*repo.Repo, error) {
	if e.repoPath == "" {
		return nil, usagef("no repository given: use --repo=PATH or set REPOFS_REPO (or OSTREE_REPO)")
	}
	r, err := repo.Open(e.repoPath)
	if errors.Is(err, repo.ErrNotFound) {
		return nil, &notRepoError{e.repoPath, err}
	}
	return r, err
}

// notRepoError says once that a path holds no repository and what to do;
// repo's own message ends in the sentinel's words, which would repeat it.
type notRepoError struct {
	path string
	err  error
}

func (e *notRepoError) Error() string {
	return fmt.Sprintf("%s is not an OSTree repository (no objects/ directory); create one with 'repofs --repo=%s init'", e.path, e.path)
}

func (e *notRepoError) Unwrap() error { return e.err }

// resolveRev opens the repository and resolves a REV in it.
func (e *env) resolveRev(rev string) (*repo.Repo, repo.Checksum, error) {
	r, err := e.openRepo()
	if err != nil {
		return nil, repo.Checksum{}, err
	}
	c, err := r.ResolveRev(rev)
	return r, c, err
}

// openCommit opens the repository and the root of the commit rev names.
func (e *env) openCommit(rev string) (*repo.Repo, repo.Node, error) {
	r, c, err := e.resolveRev(rev)
	if err != nil {
		return nil, repo.Node{}, err
	}
	commit, err := r.ReadCommit(c)
	if err != nil {
		return nil, repo.Node{}, err
	}
	return r, repo.RootNode(commit), nil
}
