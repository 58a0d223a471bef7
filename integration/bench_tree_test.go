package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
)

// benchTree returns the source tree the benchmarks commit, read, pull and
// check out: the Go distribution by default, or, with
// REPOFS_BENCH_TREE=small, 100,000 small files (100 B to 4 KiB in 1,000
// directories), generated once under os.TempDir() and reused.
func benchTree() (name, dir string, err error) {
	if os.Getenv("REPOFS_BENCH_TREE") != "small" {
		dir, err = goEnv("GOROOT")
		return "goroot", dir, err
	}
	dir = filepath.Join(os.TempDir(), "repofs-bench-tree-small100k")
	done := dir + ".done"
	if _, err := os.Stat(done); err == nil {
		return "small100k", dir, nil
	}
	unlock, err := lockDir(os.TempDir())
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if _, err := os.Stat(done); err == nil {
		return "small100k", dir, nil
	}
	os.RemoveAll(dir)
	rng := rand.New(rand.NewPCG(100000, 1))
	buf := make([]byte, 4096)
	for i := range 100000 {
		p := filepath.Join(dir, fmt.Sprintf("d%02d/d%03d/f%06d", i%10, i%1000, i))
		if i < 1000 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", "", err
			}
		}
		n := 100 + rng.IntN(len(buf)-100)
		for j := range n {
			buf[j] = byte('a' + rng.IntN(26))
		}
		if err := os.WriteFile(p, buf[:n], 0o644); err != nil {
			return "", "", err
		}
	}
	syscall.Sync()
	return "small100k", dir, os.WriteFile(done, nil, 0o644)
}
