package fusefs

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/internal/repotest"
)

// pseudoFiles makes counts[dir] files f00, f01… in each dir, of distinct
// pseudorandom bytes, size(i) of them in the i-th; and their bytes by path.
func pseudoFiles(counts map[string]int, size func(i int) int64) ([]repotest.Entry, map[string][]byte) {
	var entries []repotest.Entry
	data := map[string][]byte{}
	for dir, n := range counts {
		for i := range n {
			p := fmt.Sprintf("%s/f%02d", dir, i)
			data[p] = repotest.Pseudorandom(p, size(i))
			entries = append(entries, repotest.Entry{Path: p, Kind: repotest.File, Data: data[p]})
		}
	}
	return entries, data
}

// dirNodes returns the node of each directory of commits/<c> on m, which
// the kernel must have looked up.
func dirNodes(m *Mount, c string, dirs []string) map[string]*dirNode {
	node := map[string]*dirNode{}
	for _, dir := range dirs {
		n := m.FS.root.GetChild("commits").GetChild(c)
		for _, p := range strings.Split(dir, "/") {
			n = n.GetChild(p)
		}
		node[dir] = n.Operations().(*dirNode)
	}
	return node
}

// waitIdle waits until no read-ahead runs on m: every store is done, and
// every disk read-ahead asked for.
func waitIdle(t *testing.T, m *Mount) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !m.FS.read.idle(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("read-ahead still running after 30s")
		}
	}
}

// inflatedFiles counts the files of d inflated and verified in m's cache.
func inflatedFiles(m *Mount, d *dirNode) int {
	n := 0
	for _, f := range d.tree.Files {
		if m.FS.read.(*archiveReader).cache.Verified(f.Content) {
			n++
		}
	}
	return n
}

// resident reports whether every page of the file at p is in the page
// cache, without reading it.
func resident(t *testing.T, p string) bool {
	t.Helper()
	in, all := residentPages(t, p)
	return in == all
}

// residentPages counts the pages of the file at p in the page cache, of
// all its pages, with mincore.
func residentPages(t *testing.T, p string) (in, all int) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	vec := make([]byte, (len(mem)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	for _, v := range vec {
		if v&1 != 0 {
			in++
		}
	}
	return in, len(vec)
}
