package integration

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// requireFUSE skips the test, loudly, when the kernel offers no FUSE
// device. In CI (where $CI is set) it fails the test instead, as
// repotest.RequireOstree does for a missing ostree: the mount tests must
// run there.
func requireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		missing(t, fmt.Sprintf("no /dev/fuse (%v); FUSE test NOT RUN", err))
	}
}

// requireFusermount is requireFUSE for the tests that mount as a user,
// through fusermount3.
func requireFusermount(t testing.TB) {
	t.Helper()
	requireFUSE(t)
	if _, err := exec.LookPath("fusermount3"); err != nil {
		missing(t, "fusermount3 is not installed (install fuse3, as .ci/setup does); the NON-ROOT MOUNT IS NOT TESTED")
	}
}

// missing fails the test in CI and skips it elsewhere, saying what is
// missing.
func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip("SKIP: " + msg)
}
