package repo

import (
	"fmt"
	"os"
	"path/filepath"
)

// Set sets key in group, adding the group (at the end) or the key (at the
// end of its group) when missing, as GLib's keyfile does.
func (c *Config) Set(group, key, value string) {
	for i := len(c.Groups) - 1; i >= 0; i-- { // the occurrence Get reads
		g := &c.Groups[i]
		if g.Name != group {
			continue
		}
		for j := len(g.Keys) - 1; j >= 0; j-- {
			if g.Keys[j].Key == key {
				g.Keys[j].Value = value
				return
			}
		}
		g.Keys = append(g.Keys, ConfigKey{key, value})
		return
	}
	c.Groups = append(c.Groups, ConfigGroup{Name: group, Keys: []ConfigKey{{key, value}}})
}

// HasGroup reports whether group exists.
func (c *Config) HasGroup(group string) bool {
	for _, g := range c.Groups {
		if g.Name == group {
			return true
		}
	}
	return false
}

// DeleteGroup removes group and reports whether it existed.
func (c *Config) DeleteGroup(group string) bool {
	for i, g := range c.Groups {
		if g.Name == group {
			c.Groups = append(c.Groups[:i], c.Groups[i+1:]...)
			return true
		}
	}
	return false
}

// ReadConfig reads the repository's config afresh from disk (Config
// returns the copy read when the repository was opened); use it before a
// read-modify-write of the file.
func (r *Repo) ReadConfig() (*Config, error) {
	p := filepath.Join(r.path, "config")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return c, nil
}

// WriteConfig replaces the repository's config file atomically. Like
// ostree, it takes no lock: concurrent writers of config race, the last
// one wins whole.
func (r *Repo) WriteConfig(c *Config) error {
	p := filepath.Join(r.path, "config")
	if err := WriteFileAtomic(p, c.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
