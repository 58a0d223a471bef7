package repotest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// Kind is the type of a tree entry.
type Kind int

const (
	File Kind = iota
	Dir
	Symlink
)

// Entry describes one entry of a source tree.
type Entry struct {
	Path string // relative, slash-separated
	Kind Kind
	// Data is a file's content; when nil and Size > 0 the file gets Size
	// deterministic pseudo-random bytes (seeded by Path).
	Data []byte
	Size int64
	// Mode holds the permission bits incl. setuid/setgid/sticky (0 means
	// 0644 for files, 0755 for directories).
	Mode     uint32
	UID, GID int // ownership when non-zero
	Xattrs   map[string]string
	Target   string // symlink target
}

// WriteTree creates entries under root (which may already hold a tree;
// existing files are replaced). Parent directories are created as needed;
// directory modes are applied last so read-only directories can be filled.
func WriteTree(t testing.TB, root string, entries []Entry) {
	t.Helper()
	type dirMode struct {
		path string
		mode uint32
	}
	var dirs []dirMode
	for _, e := range entries {
		p := filepath.Join(root, filepath.FromSlash(e.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch e.Kind {
		case File:
			os.Remove(p)
			data := e.Data
			if data == nil && e.Size > 0 {
				data = Pseudorandom(e.Path, e.Size)
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			mode := e.Mode
			if mode == 0 {
				mode = 0o644
			}
			chown(t, p, e)
			if err := unix.Chmod(p, mode); err != nil {
				t.Fatalf("chmod %s: %v", p, err)
			}
		case Dir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			chown(t, p, e)
			mode := e.Mode
			if mode == 0 {
				mode = 0o755
			}
			dirs = append(dirs, dirMode{p, mode})
		case Symlink:
			os.Remove(p)
			if err := os.Symlink(e.Target, p); err != nil {
				t.Fatal(err)
			}
			chown(t, p, e)
		}
		for _, k := range sortedKeys(e.Xattrs) {
			if err := unix.Lsetxattr(p, k, []byte(e.Xattrs[k]), 0); err != nil {
				t.Fatalf("setxattr %s %s: %v", p, k, err)
			}
		}
	}
	// Deepest first, so a directory's mode is set after its children.
	slices.SortFunc(dirs, func(a, b dirMode) int { return len(b.path) - len(a.path) })
	for _, d := range dirs {
		if err := unix.Chmod(d.path, d.mode); err != nil {
			t.Fatalf("chmod %s: %v", d.path, err)
		}
	}
}

func chown(t testing.TB, p string, e Entry) {
	if e.UID == 0 && e.GID == 0 {
		return
	}
	if err := os.Lchown(p, e.UID, e.GID); err != nil {
		t.Fatalf("chown %s (tests that set ownership need root): %v", p, err)
	}
}

// Pseudorandom returns n incompressible bytes that depend only on seed.
func Pseudorandom(seed string, n int64) []byte {
	var key [32]byte
	copy(key[:], seed)
	r := rand.NewChaCha8(key)
	b := make([]byte, n)
	r.Read(b)
	return b
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
