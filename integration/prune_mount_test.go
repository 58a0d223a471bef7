package integration

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
)

// TestPruneUnderMount: a commit pruned by repofs or by ostree, while a
// reader hashes the files inside it through the mount, leaves commits/
// (its listing and a lookup) soon after the prune exits; the reader only
// ever gets the right bytes or ENOENT, and the mount serves on.
func TestPruneUnderMount(t *testing.T) {
	repotest.RequireOstree(t)
	requireFUSE(t)
	for _, tool := range []string{"repofs", "ostree"} {
		t.Run(tool, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "repo")
			repotest.Init(t, p, "bare-user")
			tree := t.TempDir()
			rng := rand.New(rand.NewPCG(1, 2))
			var entries []repotest.Entry
			sums := map[string][32]byte{}
			for i := range 16 {
				data := make([]byte, 256<<10)
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
				name := fmt.Sprintf("f%02d", i)
				entries = append(entries, repotest.Entry{Path: name, Kind: repotest.File, Data: data})
				sums[name] = sha256.Sum256(data)
			}
			repotest.WriteTree(t, tree, entries)
			gone := repotest.Commit(t, p, "gone", tree, repotest.CommitOpts{})
			repotest.WriteTree(t, tree, []repotest.Entry{{Path: "kept", Kind: repotest.File, Data: []byte("kept\n")}})
			kept := repotest.Commit(t, p, "kept", tree, repotest.CommitOpts{})

			mp := t.TempDir()
			cmd, stderr := startMount(t, p, mp, "refs/heads/gone")
			dir := filepath.Join(mp, "commits", gone)
			var stop atomic.Bool
			var reads, enoent atomic.Int64
			var mu sync.Mutex
			var bad []string
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; !stop.Load(); i++ {
						name := fmt.Sprintf("f%02d", i%16)
						b, err := os.ReadFile(filepath.Join(dir, name))
						reads.Add(1)
						switch {
						case errors.Is(err, fs.ErrNotExist):
							enoent.Add(1)
						case err != nil:
							mu.Lock()
							bad = append(bad, err.Error())
							mu.Unlock()
						case sha256.Sum256(b) != sums[name]:
							mu.Lock()
							bad = append(bad, name+": wrong bytes")
							mu.Unlock()
						}
					}
				}()
			}
			waitUntil(t, 10*time.Second, func() bool { return reads.Load() > 32 })

			bin := repofsBin
			if tool == "ostree" {
				bin = "ostree"
			}
			if r := runCmd(t, nil, bin, "--repo="+p, "refs", "--delete", "gone"); r.code != 0 {
				t.Fatalf("%s refs --delete: %s", tool, r.stderr)
			}
			if r := runCmd(t, nil, bin, "--repo="+p, "prune", "--refs-only", "--depth=0"); r.code != 0 {
				t.Fatalf("%s prune: %s", tool, r.stderr)
			}
			pruned := time.Now()
			listed := func() bool {
				ents, err := os.ReadDir(filepath.Join(mp, "commits"))
				return err == nil && slices.ContainsFunc(ents, func(e fs.DirEntry) bool { return e.Name() == gone })
			}
			found := func() bool { _, err := os.Stat(dir); return err == nil }
			if !waitUntil(t, 10*time.Second, func() bool { return !listed() && !found() }) {
				t.Fatalf("pruned commit %s still in commits/ 10s after %s prune (listed %v, lookup %v)", gone, tool, listed(), found())
			}
			fmt.Printf("pruned by %s: gone from commits/ %v after the prune\n", tool, time.Since(pruned).Round(time.Millisecond))
			stop.Store(true)
			wg.Wait()
			if len(bad) > 0 {
				t.Errorf("%d of %d reads failed otherwise than ENOENT or read wrong bytes: %q", len(bad), reads.Load(), bad[:min(len(bad), 5)])
			}
			if b, err := os.ReadFile(filepath.Join(mp, "commits", kept, "kept")); err != nil || !bytes.Equal(b, []byte("kept\n")) {
				t.Errorf("the kept commit after the prune: %q %v; stderr:\n%s", b, err, stderr)
			}
			if enoent.Load() == 0 {
				t.Logf("no read saw ENOENT (%d reads)", reads.Load())
			}
			_ = cmd
		})
	}
}
