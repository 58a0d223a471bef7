package repo

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Config is a GLib keyfile such as a repository's config: groups of
// key=value lines. Order is kept so that rewriting a file changes only what
// was changed.
type Config struct {
	Groups []ConfigGroup
}

// ConfigGroup is one [group] of a keyfile.
type ConfigGroup struct {
	Name string
	Keys []ConfigKey
}

// ConfigKey is one key=value line.
type ConfigKey struct{ Key, Value string }

// ParseConfig parses keyfile text. Comments and blank lines are dropped.
func ParseConfig(data []byte) (*Config, error) {
	c := &Config{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: bad group header %q", n, line)
			}
			c.Groups = append(c.Groups, ConfigGroup{Name: line[1 : len(line)-1]})
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || len(c.Groups) == 0 {
				return nil, fmt.Errorf("line %d: expected key=value inside a group: %q", n, line)
			}
			g := &c.Groups[len(c.Groups)-1]
			g.Keys = append(g.Keys, ConfigKey{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	return c, sc.Err()
}

// Get returns the value of key in group. Of a key given twice, the last
// counts, as with GLib's key files (ostree's reader).
func (c *Config) Get(group, key string) (string, bool) {
	for i := len(c.Groups) - 1; i >= 0; i-- {
		g := c.Groups[i]
		if g.Name != group {
			continue
		}
		for j := len(g.Keys) - 1; j >= 0; j-- {
			if g.Keys[j].Key == key {
				return g.Keys[j].Value, true
			}
		}
	}
	return "", false
}

// Bool returns a boolean key, or def when it is absent.
func (c *Config) Bool(group, key string, def bool) (bool, error) {
	v, ok := c.Get(group, key)
	if !ok {
		return def, nil
	}
	b, ok := ParseBool(v)
	if !ok {
		return def, fmt.Errorf("[%s] %s=%s: not a boolean", group, key, v)
	}
	return b, nil
}

// ParseBool parses a keyfile boolean as GLib does: true/1, false/0.
func ParseBool(v string) (b, ok bool) {
	switch v {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// Bytes serialises c as keyfile text.
func (c *Config) Bytes() []byte {
	var b bytes.Buffer
	for i, g := range c.Groups {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s]\n", g.Name)
		for _, k := range g.Keys {
			fmt.Fprintf(&b, "%s=%s\n", k.Key, k.Value)
		}
	}
	return b.Bytes()
}
