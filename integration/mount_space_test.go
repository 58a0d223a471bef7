package integration

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
)

// duKiB runs du -s (with extra options) on p and returns its KiB.
func duKiB(t *testing.T, p string, extra ...string) int64 {
	t.Helper()
	out, err := exec.Command("du", append(append([]string{"-s", "-k"}, extra...), p)...).Output()
	if err != nil {
		t.Fatalf("du %v %s: %v", extra, p, err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatalf("du %s: %q", p, out)
	}
	return n
}

// dfBytes runs df on p and returns the size and the available bytes.
func dfBytes(t *testing.T, p string) (size, avail int64) {
	t.Helper()
	out, err := exec.Command("df", "-B1", "--output=size,avail", p).Output()
	if err != nil {
		t.Fatalf("df %s: %v", p, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if _, err := fmt.Sscan(lines[len(lines)-1], &size, &avail); err != nil {
		t.Fatalf("df %s: %q: %v", p, out, err)
	}
	return size, avail
}

// TestMountDuDf: du through the mount counts what the files hold (as
// du --apparent-size does, but for the rounding of each file up to 512
// bytes), and df of the mount reports the repository file system's size
// and free space, where pulls write.
func TestMountDuDf(t *testing.T) {
	requireFUSE(t)
	var es []repotest.Entry
	for i := range 40 {
		es = append(es, repotest.Entry{Path: fmt.Sprintf("d%d/f%d", i%4, i), Kind: repotest.File, Size: int64(1000 * i)})
	}
	es = append(es, repotest.Entry{Path: "big", Kind: repotest.File, Size: 5 << 20})
	repoPath, _ := testrepo.NewRepo(t, "bare-user", es)
	mp := t.TempDir()
	cmd, stderr := startMount(t, repoPath, mp, "refs/heads/main")
	tree := filepath.Join(mp, "refs/heads/main") + "/"

	du, apparent := duKiB(t, tree), duKiB(t, tree, "--apparent-size")
	// Each of the 41 files rounds up to 512 bytes at most.
	if du < apparent || du > apparent+(int64(len(es))+1)/2+1 {
		t.Errorf("du -s: %d KiB, du -s --apparent-size: %d KiB; want equal but for the rounding of %d files", du, apparent, len(es))
	}

	size, avail := dfBytes(t, mp)
	wantSize, wantAvail := dfBytes(t, repoPath)
	// Other programs write to that file system meanwhile: close, not equal.
	if size != wantSize || avail == 0 || avail < wantAvail-wantSize/100 || avail > wantAvail+wantSize/100 {
		t.Errorf("df of the mount: %d bytes, %d available; want the repository file system's %d, about %d available", size, avail, wantSize, wantAvail)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(mp, &st); err != nil || st.Flags&0x1 == 0 { // ST_RDONLY
		t.Errorf("statfs of the mount: flags %#x, %v; want ST_RDONLY", st.Flags, err)
	}

	cmd.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("mount: exit %d; stderr:\n%s", code, stderr)
	}
}
