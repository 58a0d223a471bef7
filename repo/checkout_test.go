package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckoutEqualsSource checks out a commit of every mode, as a user
// (-U) and, when root, with ownership, through O_TMPFILE and through the
// named-file fallback of filesystems without it, and compares the result
// with the tree that was committed.
func TestCheckoutEqualsSource(t *testing.T) {
	src := t.TempDir()
	writeTestTree(t, src, 1)
	want := listTree(t, src)
	for _, fallback := range []bool{false, true} {
		for _, m := range allModes {
			for _, user := range []bool{true, false} {
				if !user && os.Geteuid() != 0 {
					continue
				}
				t.Run(fmt.Sprintf("fallback=%v/%s/user=%v", fallback, m, user), func(t *testing.T) {
					r := initRepo(t, m)
					c := commitDir(t, r, "main", src)
					commit, err := r.ReadCommit(c)
					if err != nil {
						t.Fatal(err)
					}
					if fallback {
						orig, origC := openTmpfile, openCheckoutTmpfile
						openTmpfile = func(int) (int, error) { return -1, unix.EOPNOTSUPP }
						openCheckoutTmpfile = func(int, uint32) (int, error) { return -1, unix.EOPNOTSUPP }
						defer func() { openTmpfile, openCheckoutTmpfile = orig, origC }()
					}
					dest := filepath.Join(t.TempDir(), "co")
					if err := r.Checkout(context.Background(), RootNode(commit), dest, CheckoutOptions{User: user}); err != nil {
						t.Fatal(err)
					}
					if got := listTree(t, dest); !slices.Equal(got, want) {
						t.Errorf("checkout differs from the source:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
					}
					if err := r.Checkout(context.Background(), RootNode(commit), dest, CheckoutOptions{User: user}); err == nil {
						t.Error("a checkout over an existing destination succeeded")
					}
				})
			}
		}
	}
}

// listTree renders every entry under root: path, type, permissions, and
// the symlink target or content hash.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", rel, info.Mode())
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + target
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCheckoutUnionReplacesAtomically: a union puts a file over an
// existing one by renaming it into place, as ostree does, so a write
// that fails (here: an object that does not hash to its checksum) leaves
// the old file where it was, and no temporary name behind.
func TestCheckoutUnionReplacesAtomically(t *testing.T) {
	for _, m := range allModes {
		user := m != ModeBare || os.Geteuid() != 0
		t.Run(fmt.Sprintf("%s/user=%v", m, user), func(t *testing.T) {
			src := t.TempDir()
			writeTestTree(t, src, 1)
			r := initRepo(t, m)
			first, _ := r.ReadCommit(commitDir(t, r, "first", src))
			dest := filepath.Join(t.TempDir(), "co")
			if err := r.Checkout(context.Background(), RootNode(first), dest, CheckoutOptions{User: user}); err != nil {
				t.Fatal(err)
			}
			old := readFile(t, filepath.Join(dest, "sub/deeper/data.bin"))

			// The second commit's data.bin, its object swapped for another
			// of the same size and mode: well-formed, wrong content.
			data := slices.Clone(old)
			data[0] ^= 0xff
			writeFile(t, filepath.Join(src, "sub/deeper/data.bin"), data)
			second, _ := r.ReadCommit(commitDir(t, r, "second", src))
			data[1] ^= 0xff
			other := t.TempDir()
			writeFile(t, filepath.Join(other, "data.bin"), data)
			oc, _ := r.ReadCommit(commitDir(t, r, "other", other))
			want, err := r.Lookup(RootNode(second), "sub/deeper/data.bin")
			if err != nil {
				t.Fatal(err)
			}
			swap, err := r.Lookup(RootNode(oc), "data.bin")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(r.objectPath(swap.Content, ObjFile), r.objectPath(want.Content, ObjFile)); err != nil {
				t.Fatal(err)
			}

			err = r.Checkout(context.Background(), RootNode(second), dest, CheckoutOptions{User: user, Overwrite: OverwriteUnion})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("union over a corrupt object: %v, want ErrCorrupt", err)
			}
			if got := readFile(t, filepath.Join(dest, "sub/deeper/data.bin")); !bytes.Equal(got, old) {
				t.Error("the failed union did not leave the old file in place")
			}
			ents, err := os.ReadDir(filepath.Join(dest, "sub/deeper"))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if e.Name() != "data.bin" {
					t.Errorf("left behind in the checkout: %s", e.Name())
				}
			}
		})
	}
}

func TestWalkLess(t *testing.T) {
	for _, c := range []struct {
		prefix walkKey
		last   int32
		k      walkKey
		want   bool
	}{
		{nil, -1, walkKey{0}, true},           // the root before its items
		{walkKey{0}, -1, nil, false},          // an item after the root
		{walkKey{1}, -1, walkKey{1}, false},   // equal
		{walkKey{1}, 2, walkKey{1, 3}, true},  // files in order
		{walkKey{1}, 3, walkKey{1, 2}, false}, //
		{walkKey{1}, 5, walkKey{2}, true},     // inside an earlier directory
		{walkKey{2}, 0, walkKey{1, 9, 9}, false},
		{walkKey{1, 2}, -1, walkKey{1, 2, 0}, true}, // a directory before its items
		{walkKey{1, 2}, 7, walkKey{1, 2}, false},
	} {
		if got := walkLess(c.prefix, c.last, c.k); got != c.want {
			t.Errorf("walkLess(%v, %d, %v) = %v, want %v", c.prefix, c.last, c.k, got, c.want)
		}
	}
}

// TestCheckoutReportsFirstFailure: with failures in several directories,
// walked in parallel, the checkout reports the one ostree, going in name
// order, stops at, every time.
func TestCheckoutReportsFirstFailure(t *testing.T) {
	src := t.TempDir()
	put := func(p string, b []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, b)
	}
	for i := range 8 {
		for j := range 20 {
			put(filepath.Join(src, fmt.Sprintf("d%d/sub/f%02d", i, j)), []byte(fmt.Sprintf("%d %d\n", i, j)))
		}
	}
	r := initRepo(t, ModeArchive)
	commit, _ := r.ReadCommit(commitDir(t, r, "main", src))
	defer func(n int) { checkoutWorkers = n }(checkoutWorkers)
	checkoutWorkers = 8 // every directory at once: later ones often fail first
	for round := range 20 {
		dest := filepath.Join(t.TempDir(), "co")
		// Files of other contents already there: the last of d2, which
		// ostree stops at, and the first of each later directory, which
		// a parallel walk often meets earlier.
		put(filepath.Join(dest, "d2/sub/f19"), []byte("other\n"))
		for i := 3; i < 8; i++ {
			put(filepath.Join(dest, fmt.Sprintf("d%d/sub/f00", i)), []byte("other\n"))
		}
		err := r.Checkout(context.Background(), RootNode(commit), dest, CheckoutOptions{User: true, Overwrite: OverwriteIdentical, DisableCache: true})
		if !errors.Is(err, ErrCheckoutConflict) || !strings.Contains(err.Error(), " to f19:") {
			t.Fatalf("round %d: %v; want the conflict of d2/sub/f19", round, err)
		}
		if _, err := os.Lstat(filepath.Join(dest, "d2/sub/f18")); err != nil {
			t.Fatalf("round %d: a file before the failure is missing: %v", round, err)
		}
	}
}

// TestCheckoutFailureBeforeSubdirs: a file that fails before it is
// written (one in conflict with an existing file) stops the checkout, as
// ostree's, before any subdirectory of its directory is made, however
// many workers are free for them.
func TestCheckoutFailureBeforeSubdirs(t *testing.T) {
	src := t.TempDir()
	for i := range 100 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%02d", i)), []byte(fmt.Sprintf("%d\n", i)))
	}
	for i := range 8 {
		p := filepath.Join(src, fmt.Sprintf("d%d", i))
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(p, "f"), []byte(fmt.Sprintf("%d\n", i)))
	}
	r := initRepo(t, ModeArchive)
	commit, _ := r.ReadCommit(commitDir(t, r, "main", src))
	defer func(n int) { checkoutWorkers = n }(checkoutWorkers)
	checkoutWorkers = 8
	for round := range 20 {
		dest := filepath.Join(t.TempDir(), "co")
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dest, "f99"), []byte("other\n"))
		err := r.Checkout(context.Background(), RootNode(commit), dest, CheckoutOptions{User: true, Overwrite: OverwriteIdentical, DisableCache: true})
		if !errors.Is(err, ErrCheckoutConflict) {
			t.Fatalf("round %d: %v; want the conflict of f99", round, err)
		}
		ents, err := os.ReadDir(dest)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.IsDir() {
				t.Fatalf("round %d: made after the failure: %s", round, e.Name())
			}
		}
	}
}
