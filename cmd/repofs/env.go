package main

import (
	"context"
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
	return repo.Open(e.repoPath)
}

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
