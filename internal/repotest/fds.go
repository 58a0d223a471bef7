package repotest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OpenObjects lists the objects of the repository at repoPath that this
// process has open: none should be, once a reader is done.
func OpenObjects(t testing.TB, repoPath string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	objects := filepath.Join(repoPath, "objects") + "/"
	var open []string
	for _, fd := range fds {
		if p, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(p, objects) {
			open = append(open, p)
		}
	}
	return open
}
