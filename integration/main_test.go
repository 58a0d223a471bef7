// Package integration tests the built repofs binary end to end, against the
// real ostree and real FUSE.
package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repofsBin is the binary built once by TestMain.
var repofsBin string

// cmdTimeout bounds every command a test runs; none should come near it.
const cmdTimeout = 2 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "repofs-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	repofsBin = filepath.Join(dir, "repofs")
	build := exec.Command("go", "build", "-o", repofsBin, "./cmd/repofs")
	build.Dir = ".." // the module root, seen from integration/
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: go build ./cmd/repofs: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// cleanEnv is the environment without the variables that name a repository,
// so that only an explicit --repo reaches the command.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REPOFS_REPO=") || strings.HasPrefix(kv, "OSTREE_REPO=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// result is what a finished command left behind.
type result struct {
	stdout, stderr string
	code           int
	wall           time.Duration
	cpu            time.Duration // user + system time: steadier than wall on a shared machine
	maxRSS         int64         // peak resident set size, bytes
}

// runCmd runs name with args under cmdTimeout and the clean environment.
// When stdout is non-nil the output goes there instead of result.stdout.
func runCmd(t testing.TB, stdout io.Writer, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = cleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.Stderr = &errb
	start := time.Now()
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String(), wall: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v\nstderr: %s", name, strings.Join(args, " "), cmdTimeout, res.stderr)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	res.code = cmd.ProcessState.ExitCode()
	res.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.maxRSS = ru.Maxrss * 1024 // Linux reports kilobytes
	}
	return res
}

// repofs runs the built binary.
func repofs(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := runCmd(t, nil, repofsBin, args...)
	return r.stdout, r.stderr, r.code
}

// ostreeCmd runs the real ostree without failing on a non-zero exit.
func ostreeCmd(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := runCmd(t, nil, "ostree", args...)
	return r.stdout, r.stderr, r.code
}

// noPanic fails the test when a command's output shows a Go panic.
func noPanic(t testing.TB, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, "panic") || strings.Contains(o, "goroutine") {
			t.Errorf("output shows a panic:\n%s", o)
		}
	}
}
