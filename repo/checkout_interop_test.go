package repo

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
)

// describeCheckout renders every entry of a checkout as ostree's own
// checkout must match it: type and mode, owner, sorted xattrs, symlink
// target or content, and whether a regular file is a hardlink (of an
// object or a cache entry) or a copy.
func describeCheckout(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o owner=%d:%d", rel, st.Mode, st.Uid, st.Gid)
		sz, _ := unix.Llistxattr(p, nil)
		if sz > 0 {
			buf := make([]byte, sz)
			n, _ := unix.Llistxattr(p, buf)
			names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
			sort.Strings(names)
			for _, name := range names {
				v := make([]byte, 4096)
				k, _ := unix.Lgetxattr(p, name, v)
				line += fmt.Sprintf(" %s=%q", name, v[:max(k, 0)])
			}
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %d bytes %q… linked=%v", len(b), b[:min(len(b), 8)], st.Nlink > 1)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wideTree is richTree and, for the parallel walk, directories on
// several levels, some empty, some read-only, many files sharing
// contents, and file modes the umask takes bits of, or with setgid or
// sticky bits (which a checkout sets by fchmod, others at creation).
func wideTree(t *testing.T) string {
	dir := richTree(t)
	var es []repotest.Entry
	modes := []uint32{0o600, 0o664, 0o444, 0o700, 0o2755, 0o1755, 0o755, 0o640}
	for i := range 12 {
		d := fmt.Sprintf("w%02d", i)
		es = append(es, repotest.Entry{Path: d, Kind: repotest.Dir})
		for j := range 6 {
			es = append(es, repotest.Entry{Path: fmt.Sprintf("%s/f%d", d, j), Kind: repotest.File,
				Data: []byte(fmt.Sprintf("file %d\n", (i*6+j)%10)), Mode: modes[(i+j)%len(modes)]})
		}
		es = append(es, repotest.Entry{Path: d + "/sub", Kind: repotest.Dir},
			repotest.Entry{Path: d + "/sub/deep", Kind: repotest.Dir},
			repotest.Entry{Path: d + "/sub/deep/x", Kind: repotest.File, Size: int64(100 + i*4000)},
			repotest.Entry{Path: d + "/sub/empty", Kind: repotest.Dir})
		if i%4 == 0 {
			es = append(es, repotest.Entry{Path: d + "/ro", Kind: repotest.Dir, Mode: 0o555},
				repotest.Entry{Path: d + "/ro/in", Kind: repotest.File, Data: []byte("in a read-only directory\n")})
		}
	}
	repotest.WriteTree(t, dir, es)
	return dir
}

// TestInteropCheckoutEqualsOstree checks out the same commit with ostree
// and repofs in every mode pair, with the cache where it applies, and
// compares content, modes, owners, xattrs, symlinks and hardlinks.
func TestInteropCheckoutEqualsOstree(t *testing.T) {
	repotest.RequireOstree(t)
	src := wideTree(t)
	for _, m := range allModes {
		for _, user := range []bool{true, false} {
			if !user && (os.Geteuid() != 0 || m == ModeBareUserOnly) {
				continue // bare-user-only keeps no ownership to restore
			}
			t.Run(fmt.Sprintf("%s/user=%v", m, user), func(t *testing.T) {
				r := initRepo(t, m)
				c := commitDir(t, r, "main", src)
				args := []string{"--repo=" + r.Path(), "checkout"}
				if user {
					args = append(args, "-U")
				}
				theirs := filepath.Join(t.TempDir(), "co")
				repotest.Ostree(t, append(args, c.String(), theirs)...)
				commit, err := r.ReadCommit(c)
				if err != nil {
					t.Fatal(err)
				}
				ours := filepath.Join(t.TempDir(), "co")
				if err := r.Checkout(context.Background(), RootNode(commit), ours, CheckoutOptions{User: user}); err != nil {
					t.Fatal(err)
				}
				if got, want := describeCheckout(t, ours), describeCheckout(t, theirs); !slices.Equal(got, want) {
					t.Errorf("repofs checkout differs from ostree's:\n--- ostree\n%s\n--- repofs\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
				}
			})
		}
	}
}

// TestInteropUncompressedCache: each tool hardlinks the entries the
// other put in the cache (repofs's, once published by its next checkout),
// ostree fsck stays clean, and after ostree prune removed objects the
// cache is still consistent for both.
func TestInteropUncompressedCache(t *testing.T) {
	repotest.RequireOstree(t)
	src := richTree(t)
	for _, filler := range []string{"ostree", "repofs"} {
		t.Run("filled by "+filler, func(t *testing.T) {
			r := initRepo(t, ModeArchive)
			c := commitDir(t, r, "main", src)
			commit, _ := r.ReadCommit(c)
			root := RootNode(commit)
			first := filepath.Join(t.TempDir(), "first")
			second := filepath.Join(t.TempDir(), "second")
			if filler == "ostree" {
				repotest.Ostree(t, "--repo="+r.Path(), "checkout", "-U", "main", first)
				if err := r.Checkout(context.Background(), root, second, CheckoutOptions{User: true}); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := r.Checkout(context.Background(), root, first, CheckoutOptions{User: true}); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Lstat(entryFor(t, r, root, "hello.txt")); err == nil {
					t.Fatal("the entry is in the cache before the next repofs checkout published it")
				}
				// Publishes the first's entries, and links them.
				if err := r.Checkout(context.Background(), root, filepath.Join(t.TempDir(), "next"), CheckoutOptions{User: true}); err != nil {
					t.Fatal(err)
				}
				repotest.Ostree(t, "--repo="+r.Path(), "checkout", "-U", "main", second)
			}
			for _, rel := range []string{"hello.txt", "big.bin", "xdir/suid", "with space/日本.txt"} {
				e := entryFor(t, r, root, rel)
				if a, b, ce := inode(t, filepath.Join(first, rel)), inode(t, filepath.Join(second, rel)), inode(t, e); a != ce || b != ce {
					t.Errorf("%s: inodes first %d, second %d, cache entry %d: not all one file", rel, a, b, ce)
				}
			}
			repotest.Ostree(t, "--repo="+r.Path(), "fsck")
			bigEntry := entryFor(t, r, root, "big.bin")

			// Another commit, then prune the first away with ostree.
			other := t.TempDir()
			writeTestTree(t, other, 2)
			commitDir(t, r, "main", other)
			repotest.Ostree(t, "--repo="+r.Path(), "prune", "--refs-only", "--depth=0")
			if _, err := os.Lstat(bigEntry); err != nil {
				t.Fatalf("ostree prune removed a cache entry: %v", err)
			}
			dropped, err := r.DropStaleUncompressed(context.Background())
			if err != nil || dropped == 0 {
				t.Fatalf("DropStaleUncompressed = %d, %v; want the pruned objects' entries gone", dropped, err)
			}
			repotest.Ostree(t, "--repo="+r.Path(), "fsck")
			head := filepath.Join(t.TempDir(), "head")
			repotest.Ostree(t, "--repo="+r.Path(), "checkout", "-U", "main", head)
			rr, _ := Open(r.Path())
			c2, err := rr.ResolveRev("main")
			if err != nil {
				t.Fatal(err)
			}
			ours := checkoutU(t, rr, c2, CheckoutOptions{})
			if got, want := listTree(t, ours), listTree(t, other); !slices.Equal(got, want) {
				t.Errorf("checkout after prune differs from its source:\n%s", strings.Join(got, "\n"))
			}
			if inode(t, filepath.Join(ours, "sub/run.sh")) != inode(t, filepath.Join(head, "sub/run.sh")) {
				t.Error("after prune, repofs did not hardlink the entry ostree made")
			}
		})
	}
}
