package repo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is a keyfile as GLib's GKeyFile loads it without
// G_KEY_FILE_KEEP_COMMENTS, which is how ostree reads and rewrites a
// repository's config: comments and blank lines are dropped, a group given
// twice is one group (its keys in the order read), a key given twice stays
// twice and the last one counts, values are kept escaped as written, with
// leading spaces cut and trailing ones kept. Bytes writes it back as GLib's
// g_key_file_to_data does, so a file edited by repofs is byte for byte the
// file ostree would have written.
type KeyFile struct {
	groups []*keyGroup
}

type keyGroup struct {
	name  string
	pairs []ConfigKey // Value holds the escaped form
}

// Key file errors, in GLib's words.
var (
	ErrKeyFileGroup = errors.New("key file has no such group")
	ErrKeyFileKey   = errors.New("key file has no such key")
)

// keyFileError keeps GLib's message and a sentinel to branch on.
type keyFileError struct {
	msg  string
	kind error
}

func (e *keyFileError) Error() string { return e.msg }
func (e *keyFileError) Unwrap() error { return e.kind }

// ParseKeyFile parses keyfile text as GLib does.
func ParseKeyFile(data []byte) (*KeyFile, error) {
	k := &KeyFile{}
	var cur *keyGroup
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		l := strings.TrimLeft(strings.TrimSuffix(string(line), "\r"), " \t\n\v\f\r")
		switch {
		case l == "" || l[0] == '#':
		case l[0] == '[':
			end := strings.LastIndexByte(l, ']')
			if end < 1 || strings.ContainsAny(l[1:end], "[]") {
				return nil, fmt.Errorf("Invalid group name: %s", l)
			}
			name := l[1:end]
			if cur = k.group(name); cur == nil {
				cur = &keyGroup{name: name}
				k.groups = append(k.groups, cur)
			}
		default:
			key, val, ok := strings.Cut(l, "=")
			key = strings.TrimRight(key, " \t\n\v\f\r")
			if !ok || key == "" {
				return nil, fmt.Errorf("Key file contains line “%s” which is not a key-value pair, group, or comment", l)
			}
			if cur == nil {
				return nil, errors.New("Key file does not start with a group")
			}
			cur.pairs = append(cur.pairs, ConfigKey{key, strings.TrimLeft(val, " \t\n\v\f\r")})
		}
	}
	return k, nil
}

func (k *KeyFile) group(name string) *keyGroup {
	for _, g := range k.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// last returns the index of the pair of key that counts, or -1.
func (g *keyGroup) last(key string) int {
	for i := len(g.pairs) - 1; i >= 0; i-- {
		if g.pairs[i].Key == key {
			return i
		}
	}
	return -1
}

// GetString returns the unescaped value of key in group, or an error in
// GLib's words wrapping ErrKeyFileGroup or ErrKeyFileKey.
func (k *KeyFile) GetString(group, key string) (string, error) {
	g := k.group(group)
	if g == nil {
		return "", &keyFileError{fmt.Sprintf("Key file does not have group “%s”", group), ErrKeyFileGroup}
	}
	i := g.last(key)
	if i < 0 {
		return "", &keyFileError{fmt.Sprintf("Key file does not have key “%s” in group “%s”", key, group), ErrKeyFileKey}
	}
	return unescapeKeyValue(g.pairs[i].Value)
}

// SetString sets key in group to value (escaped as GLib escapes it): the
// key that counts is changed in place, a new key goes to the end of its
// group and a new group to the end of the file.
func (k *KeyFile) SetString(group, key, value string) {
	esc := escapeKeyValue(value)
	g := k.group(group)
	if g == nil {
		g = &keyGroup{name: group}
		k.groups = append(k.groups, g)
	}
	if i := g.last(key); i >= 0 {
		g.pairs[i].Value = esc
		return
	}
	g.pairs = append(g.pairs, ConfigKey{key, esc})
}

// Remove deletes the key that counts of group; the error wraps
// ErrKeyFileGroup or ErrKeyFileKey when there is none.
func (k *KeyFile) Remove(group, key string) error {
	g := k.group(group)
	if g == nil {
		return &keyFileError{fmt.Sprintf("Key file does not have group “%s”", group), ErrKeyFileGroup}
	}
	i := g.last(key)
	if i < 0 {
		return &keyFileError{fmt.Sprintf("Key file does not have key “%s” in group “%s”", key, group), ErrKeyFileKey}
	}
	g.pairs = append(g.pairs[:i], g.pairs[i+1:]...)
	return nil
}

// Bytes serialises k as g_key_file_to_data does: each group after the
// first preceded by an empty line.
func (k *KeyFile) Bytes() []byte {
	var b bytes.Buffer
	for i, g := range k.groups {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s]\n", g.name)
		for _, p := range g.pairs {
			fmt.Fprintf(&b, "%s=%s\n", p.Key, p.Value)
		}
	}
	return b.Bytes()
}

// escapeKeyValue escapes a string value as g_key_file_set_string does:
// spaces and tabs as \s and \t until the first other character (newlines,
// CRs and backslashes do not end that run), newline, CR and backslash
// everywhere.
func escapeKeyValue(s string) string {
	var b strings.Builder
	leading := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case leading && c == ' ':
			b.WriteString(`\s`)
		case leading && c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\\':
			b.WriteString(`\\`)
		default:
			leading = false
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapeKeyValue undoes escapeKeyValue, failing in GLib's words on an
// unknown escape or a trailing backslash.
func unescapeKeyValue(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", errors.New("Key file contains escape character at end of line")
		}
		switch s[i] {
		case 's':
			b.WriteByte(' ')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		default:
			return "", fmt.Errorf("Key file contains invalid escape sequence “\\%c”", s[i])
		}
	}
	return b.String(), nil
}

// ReadKeyFile reads the repository's config as ostree does.
func (r *Repo) ReadKeyFile() (*KeyFile, error) {
	p := filepath.Join(r.path, "config")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	k, err := ParseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return k, nil
}

// WriteKeyFile replaces the repository's config with k, atomically, as
// ostree_repo_write_config does (mode 0644, no lock).
func (r *Repo) WriteKeyFile(k *KeyFile) error {
	p := filepath.Join(r.path, "config")
	if err := WriteFileAtomic(p, k.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
