package pull

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/repofs/repofs/repo"
)

// ErrNoRemote means the named remote is not configured.
var ErrNoRemote = errors.New("remote not found")

// Remote is one [remote "NAME"] group of a repository's config.
type Remote struct {
	Name string
	// URL is the url key: a base URL, or mirrorlist=URL; ContentURL is
	// contenturl ("" when absent), the same. See mirrors.go.
	URL, ContentURL string
	// Branches are the refs pulled when none are named.
	Branches []string
	// GPGVerify is ostree's gpg-verify (default true): commits must carry
	// a valid OpenPGP signature by a key of the remote's keyring.
	GPGVerify bool
	// Pipelining is http-pipelining (default true), a key of repofs's
	// own that ostree ignores: false keeps a pull from writing several
	// requests at once on a connection, for a server or middlebox that
	// mishandles HTTP/1.1 pipelining in a way the pull cannot tell.
	Pipelining bool
	// Keys holds every key of the group, in order.
	Keys []repo.ConfigKey
}

func group(name string) string { return fmt.Sprintf("remote %q", name) }

// ReadRemote reads a remote's configuration.
func ReadRemote(r *repo.Repo, name string) (*Remote, error) {
	c, err := r.ReadConfig()
	if err != nil {
		return nil, err
	}
	return remoteFrom(c, name)
}

func remoteFrom(c *repo.Config, name string) (*Remote, error) {
	for _, g := range c.Groups {
		if g.Name != group(name) {
			continue
		}
		rm := &Remote{Name: name, Keys: g.Keys, GPGVerify: true}
		rm.URL, _ = c.Get(g.Name, "url")
		rm.ContentURL, _ = c.Get(g.Name, "contenturl")
		if b, ok := c.Get(g.Name, "branches"); ok {
			for _, br := range strings.Split(b, ";") {
				if br != "" {
					rm.Branches = append(rm.Branches, br)
				}
			}
		}
		v, err := c.Bool(g.Name, "gpg-verify", true)
		if err != nil {
			return nil, fmt.Errorf("remote %s: %w", name, err)
		}
		rm.GPGVerify = v
		if rm.Pipelining, err = c.Bool(g.Name, "http-pipelining", true); err != nil {
			return nil, fmt.Errorf("remote %s: %w", name, err)
		}
		return rm, nil
	}
	return nil, &noRemoteError{name}
}

// noRemoteError says it in ostree's words and matches ErrNoRemote.
type noRemoteError struct{ name string }

func (e *noRemoteError) Error() string { return fmt.Sprintf("Remote %q not found", e.name) }
func (e *noRemoteError) Unwrap() error { return ErrNoRemote }

// ListRemotes returns the configured remotes, in config order.
func ListRemotes(r *repo.Repo) ([]*Remote, error) {
	c, err := r.ReadConfig()
	if err != nil {
		return nil, err
	}
	var out []*Remote
	for _, g := range c.Groups {
		name, ok := strings.CutPrefix(g.Name, "remote \"")
		if !ok || !strings.HasSuffix(name, "\"") {
			continue
		}
		rm, err := remoteFrom(c, strings.TrimSuffix(name, "\""))
		if err != nil {
			return nil, err
		}
		out = append(out, rm)
	}
	return out, nil
}

// AddOptions are the settings of a new remote.
type AddOptions struct {
	NoGPGVerify bool
	// Set are extra key=value settings, in order.
	Set         []repo.ConfigKey
	IfNotExists bool
	Branches    []string
}

// AddRemote adds a remote to the config, with the keys in the order ostree
// writes them (url, branches, --set keys, gpg-verify).
func AddRemote(ctx context.Context, r *repo.Repo, name, rawURL string, o AddOptions) error {
	if err := repo.ValidateRemoteName(name); err != nil {
		return err
	}
	// ostree stores a mirrorlist=URL as it is (see mirrors.go).
	u, err := url.Parse(strings.TrimPrefix(rawURL, mirrorlistPrefix))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
		return fmt.Errorf("remote add %s: invalid URL %q: want http://, https:// or file://, or mirrorlist= before one", name, rawURL)
	}
	c, err := r.ReadConfig()
	if err != nil {
		return err
	}
	if c.HasGroup(group(name)) {
		if o.IfNotExists {
			return nil
		}
		return fmt.Errorf("Remote configuration for %q already exists: %s", name, configPath(r))
	}
	c.Set(group(name), "url", rawURL)
	if len(o.Branches) > 0 {
		c.Set(group(name), "branches", strings.Join(o.Branches, ";")+";")
	}
	for _, k := range o.Set {
		c.Set(group(name), k.Key, k.Value)
	}
	if o.NoGPGVerify && !slices.ContainsFunc(o.Set, func(k repo.ConfigKey) bool { return k.Key == "gpg-verify" }) {
		c.Set(group(name), "gpg-verify", "false")
	}
	return r.WriteConfig(c)
}

func configPath(r *repo.Repo) string { return r.Path() + "/config" }

// DeleteRemote removes a remote from the config, and its keyring as ostree
// does.
func DeleteRemote(ctx context.Context, r *repo.Repo, name string, ifExists bool) error {
	c, err := r.ReadConfig()
	if err != nil {
		return err
	}
	if !c.DeleteGroup(group(name)) {
		if ifExists {
			return nil
		}
		return &noRemoteError{name}
	}
	if err := r.WriteConfig(c); err != nil {
		return err
	}
	if err := os.Remove(KeyringPath(r, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remote delete %s: %w", name, err)
	}
	return nil
}
