package fusefs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
	"github.com/repofs/repofs/repo"
)

// goFuseInodes counts the go-fuse Inodes below and including n.
func goFuseInodes(n *gofs.Inode) int {
	count := 1
	for _, k := range n.Children() {
		count += goFuseInodes(k)
	}
	return count
}

// nodeOf returns the node the kernel holds for the entry at p of refs/,
// 0 if none.
func (s *refsState) nodeOf(p string) uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e := s.tree.find(p); e != nil {
		return e.node
	}
	return 0
}

// TestRefsWalkMakesNoInodes: a walk of refs/ that enters every
// directory and looks up every ref makes no go-fuse Inode; the kernel's
// nodes of refs/ are the mount's own, one for each entry it holds.
func TestRefsWalkMakesNoInodes(t *testing.T) {
	repoPath := filepath.Join(t.TempDir(), "repo")
	r := testrepo.Init(t, repoPath, "archive")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("v")}})
	c := mustChecksum(t, testrepo.Commit(t, repoPath, "seed", src, repotest.CommitOpts{}))
	const n = 200
	for i := range n {
		if err := r.SetRefImmediate(t.Context(), "", fmt.Sprintf("app/org.test.App%03d/x86_64/stable", i), c); err != nil {
			t.Fatal(err)
		}
	}
	m, mp := testMountWith(t, repoPath, noPoll)
	before := goFuseInodes(&m.FS.root.Inode)
	links := 0
	err := filepath.WalkDir(filepath.Join(mp, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		links++
		target, err := os.Readlink(p)
		if err == nil && !strings.HasSuffix(target, "/commits/"+c.String()) {
			t.Errorf("%s points to %s", p, target)
		}
		return err
	})
	if err != nil || links != n+1 {
		t.Fatalf("walk: %d refs, %v", links, err)
	}
	if after := goFuseInodes(&m.FS.root.Inode); after != before {
		t.Errorf("the walk made %d go-fuse Inodes", after-before)
	}
	s := m.FS.refs
	s.mu.RLock()
	live := s.nodes.live
	s.mu.RUnlock()
	// refs/, its three, app/, and two directories and a ref per ref,
	// unless the kernel dropped some already.
	if want := 1 + 3 + 1 + 3*n + 1; live > want || live < 3*n {
		t.Errorf("%d nodes of refs/ live, want %d", live, want)
	}
}

// TestRefsNodeReuse: a ref deleted and made again while the kernel still
// holds its node gets a new node with its new value, the old node keeps
// the old value while held, and its index is freed once the kernel
// forgets it.
func TestRefsNodeReuse(t *testing.T) {
	repoPath := filepath.Join(t.TempDir(), "repo")
	r := testrepo.Init(t, repoPath, "archive")
	src := t.TempDir()
	var commits []repo.Checksum
	for i := range 2 {
		repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte(fmt.Sprint(i))}})
		commits = append(commits, mustChecksum(t, testrepo.Commit(t, repoPath, "seed", src, repotest.CommitOpts{})))
	}
	ctx := t.Context()
	if err := r.SetRefImmediate(ctx, "", "os/main", commits[0]); err != nil {
		t.Fatal(err)
	}
	m, mp := testMountWith(t, repoPath, noPoll)
	s := m.FS.refs
	link := filepath.Join(mp, "refs", "heads", "os", "main")
	if !pointsTo(link, commits[0].String())() {
		t.Fatal("ref not shown")
	}
	// The kernel holds the ref's node while this is open.
	fd, err := unix.Open(link, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	old := s.nodeOf("heads/os/main")
	if old == 0 {
		t.Fatal("the ref looked up has no node")
	}
	if err := r.DeleteRefImmediate(ctx, "", "os/main"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleted ref", absent(link))
	if err := r.SetRefImmediate(ctx, "", "os/main", commits[1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ref made again", pointsTo(link, commits[1].String()))
	if n := s.nodeOf("heads/os/main"); n == 0 || n == old {
		t.Errorf("the ref made again has node %d, the old one had %d", n, old)
	}
	buf := make([]byte, 256)
	k, err := unix.Readlinkat(fd, "", buf)
	if err != nil || !strings.HasSuffix(string(buf[:k]), "/commits/"+commits[0].String()) {
		t.Errorf("the old node reads %q %v, want its old value", buf[:k], err)
	}
	unix.Close(fd)
	fd = -1
	waitFor(t, "old node forgotten", func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		_, n := s.nodes.node(refsID(old))
		return n == nil
	})
	// Freed indexes serve new refs; the ref made again is unchanged.
	for i := range 3 {
		p := filepath.Join(mp, "refs", "heads", "os", fmt.Sprint("other", i))
		if err := r.SetRefImmediate(ctx, "", fmt.Sprint("os/other", i), commits[i%2]); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "new ref", pointsTo(p, commits[i%2].String()))
	}
	if !pointsTo(link, commits[1].String())() {
		t.Error("the ref made again changed")
	}
}

// TestRefNodes: the node table frees a node once the kernel forgot it
// and no node below it lives, frees its directory with it if that is
// forgotten too, and reuses freed indexes.
func TestRefNodes(t *testing.T) {
	tr := newRefsTree()
	nodes := newRefNodes()
	tr.root.node = rawRootNode
	c := repo.Checksum{1}
	tr.set("heads/os/main", c)
	detached := 0
	detach := func(i uint32) {
		if e := tr.find(nodes.path(i)); e != nil && e.node == i {
			e.node = 0
			detached++
		}
	}
	heads := nodes.lookup(rawRootNode, tr.find("heads"), repo.Checksum{})
	osDir := nodes.lookup(heads, tr.find("heads/os"), repo.Checksum{})
	ref := nodes.lookup(osDir, tr.find("heads/os/main"), c)
	if again := nodes.lookup(osDir, tr.find("heads/os/main"), c); again != ref {
		t.Fatalf("a second lookup made node %d, not %d", again, ref)
	}
	if p := nodes.path(ref); p != "heads/os/main" || nodes.depth(ref) != 3 || nodes.sum(ref) != c {
		t.Errorf("ref node: path %q depth %d", p, nodes.depth(ref))
	}
	nodes.forget(osDir, 1, detach) // kept by the ref below
	if _, n := nodes.node(refsID(osDir)); n == nil {
		t.Fatal("a directory freed while a node below it lives")
	}
	nodes.forget(ref, 1, detach)
	if _, n := nodes.node(refsID(ref)); n == nil {
		t.Fatal("a ref freed with one of its two lookups left")
	}
	nodes.forget(ref, 1, detach)
	for _, i := range []uint32{ref, osDir} {
		if _, n := nodes.node(refsID(i)); n != nil {
			t.Errorf("node %d (%s) not freed", i, n.name())
		}
	}
	if detached != 2 || tr.find("heads/os").node != 0 || nodes.live != 2 {
		t.Errorf("detached %d entries, %d nodes live", detached, nodes.live)
	}
	if i := nodes.lookup(heads, tr.find("heads/os"), repo.Checksum{}); i != osDir && i != ref {
		t.Errorf("a new node took index %d, not a freed one", i)
	}
	if _, n := nodes.node(refsID(0)); n != nil || isRefsID(2) {
		t.Error("node 0 or a go-fuse node ID taken for one of refs/")
	}
}

// TestEntryIno: a listing numbers its entries as a lookup of them does,
// without making their paths.
func TestEntryIno(t *testing.T) {
	var sum repo.Checksum
	for i := range sum {
		sum[i] = byte(i*37 + 11)
	}
	for _, tc := range []struct {
		kind, dir, name string
		sum             *repo.Checksum
	}{
		{"refdir", "", "heads", nil},
		{"refdir", "heads", "app", nil},
		{"refdir", "heads/app/org.example.App000001", "x86_64", nil},
		{"ref", "heads", "main", &sum},
		{"ref", "heads/app/org.example.App000001/x86_64", "stable", &sum},
		{"ref", "remotes/origin", "os/main", &repo.Checksum{}},
	} {
		p := join(tc.dir, tc.name)
		want := ino(tc.kind, p)
		if tc.sum != nil {
			want = ino(tc.kind, p, tc.sum.String())
		}
		if got := entryIno(tc.kind, tc.dir, tc.name, tc.sum); got != want {
			t.Errorf("entryIno(%q, %q, %q): %#x, ino gives %#x", tc.kind, tc.dir, tc.name, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { entryIno("ref", "heads/app/x", "stable", &sum) }); n != 0 {
		t.Errorf("entryIno allocates %v times", n)
	}
}
