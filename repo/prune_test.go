package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// setLockTimeout sets core.lock-timeout-secs in r's config and reopens r.
func setLockTimeout(t *testing.T, r *Repo, secs int) *Repo {
	t.Helper()
	cfg, err := r.ReadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Set("core", "lock-timeout-secs", fmt.Sprint(secs))
	if err := r.WriteConfig(cfg); err != nil {
		t.Fatal(err)
	}
	r2, err := Open(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	return r2
}

func srcTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), []byte(data))
	}
	return dir
}

// TestPruneLocking checks that prune and transactions exclude each other
// through repo/.lock: an open transaction makes prune fail with ErrLocked
// once core.lock-timeout-secs passes, and no transaction can begin from
// before prune computes reachability until it has deleted.
func TestPruneLocking(t *testing.T) {
	ctx := t.Context()
	r := setLockTimeout(t, initRepo(t, ModeArchive), 0)
	commitDir(t, r, "main", srcTree(t, map[string]string{"a": "1"}))

	tx, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Prune(ctx, PruneOptions{Depth: -1}); !errors.Is(err, ErrLocked) {
		t.Errorf("prune during a transaction: %v, want ErrLocked", err)
	}
	tx.Abort()

	var during error
	_, err = r.Prune(ctx, PruneOptions{Depth: -1, Lock: func() {
		tx, during = r.Begin(ctx)
		if during == nil {
			tx.Abort()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(during, ErrLocked) {
		t.Errorf("transaction begun while prune computed reachability: %v, want ErrLocked", during)
	}
	if tx, err := r.Begin(ctx); err != nil {
		t.Errorf("transaction after prune: %v", err)
	} else {
		tx.Abort()
	}
}

// TestPruneLockingWithOstree checks the same exclusion against the real
// ostree in both directions: ostree prune fails while a repofs
// transaction is open, and ostree commit fails while repofs prunes.
func TestPruneLockingWithOstree(t *testing.T) {
	repotest.RequireOstree(t)
	ctx := t.Context()
	r := setLockTimeout(t, initRepo(t, ModeArchive), 0)
	src := srcTree(t, map[string]string{"a": "1"})
	commitDir(t, r, "main", src)

	tx, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code := repotest.RunOstree(t, "--repo="+r.Path(), "prune", "--refs-only")
	tx.Abort()
	if code == 0 || !strings.Contains(stderr, "Locking repo exclusive failed") {
		t.Errorf("ostree prune during a repofs transaction: exit %d, %q; want a lock failure", code, stderr)
	}

	var out string
	_, err = r.Prune(ctx, PruneOptions{Depth: -1, Lock: func() {
		_, out, code = repotest.RunOstree(t, "--repo="+r.Path(), "commit", "-b", "other", "--tree=dir="+src)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if code == 0 || !strings.Contains(out, "Locking repo shared failed") {
		t.Errorf("ostree commit during a repofs prune: exit %d, %q; want a lock failure", code, out)
	}
}

// TestPruneRacingWriters runs rounds of repofs prunes and ostree prunes
// against repofs transactions and ostree commits on one repository; after
// each round every ref resolves to a commit whose objects are all there
// (fsck clean), and no writer failed except by lock timeout.
func TestPruneRacingWriters(t *testing.T) {
	repotest.RequireOstree(t)
	ctx := t.Context()
	r := setLockTimeout(t, initRepo(t, ModeArchive), 30)
	for round := range 3 {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 3 {
					src := srcTree(t, map[string]string{"f": fmt.Sprint(round, w, i), "shared": "same"})
					if err := commitTx(ctx, r, fmt.Sprintf("repofs%d", w), src); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 {
				src := srcTree(t, map[string]string{"f": fmt.Sprint("ostree", round, i), "shared": "same"})
				if _, stderr, code := repotest.RunOstree(t, "--repo="+r.Path(), "commit", "-b", "ostree", "--tree=dir="+src); code != 0 {
					errs <- fmt.Errorf("ostree commit: %s", stderr)
				}
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2 {
				if _, err := r.Prune(ctx, PruneOptions{RefsOnly: true, Depth: 1}); err != nil {
					errs <- err
				}
				if _, stderr, code := repotest.RunOstree(t, "--repo="+r.Path(), "prune", "--refs-only", "--depth=1"); code != 0 {
					errs <- fmt.Errorf("ostree prune %d: %s", i, stderr)
				}
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		repotest.Ostree(t, "--repo="+r.Path(), "fsck", "-q")
		for _, ref := range []string{"repofs0", "repofs1", "ostree"} {
			if _, err := r.ResolveRev(ref); err != nil {
				t.Errorf("round %d: ref %s: %v", round, ref, err)
			}
		}
	}
}

// commitTx commits dir to branch, the parent being the branch's commit
// read inside the transaction.
func commitTx(ctx context.Context, r *Repo, branch, dir string) error {
	tx, err := r.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Abort()
	tree, meta, err := tx.WriteDirectory(ctx, dir, DirOptions{})
	if err != nil {
		return err
	}
	var parent *Checksum
	if p, err := r.ReadRef("", branch); err == nil {
		parent = &p
	}
	c, err := tx.WriteCommit(CommitOptions{Subject: "race", Parent: parent}, tree, meta)
	if err != nil {
		return err
	}
	if err := tx.SetRef("", branch, c); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// TestPruneDeletesCommitState checks what goes with a pruned commit: its
// .commitmeta and its commitpartial marker, and a tombstone when
// core.tombstone-commits is set; an orphaned .commitmeta stays, as in ostree.
func TestPruneDeletesCommitState(t *testing.T) {
	ctx := t.Context()
	r := initRepo(t, ModeBareUserOnly)
	old := commitDir(t, r, "main", srcTree(t, map[string]string{"a": "1"}))
	cur := commitDir(t, r, "main", srcTree(t, map[string]string{"a": "2"}))
	tx, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.MarkPartial(old); err != nil {
		t.Fatal(err)
	}
	tx.KeepPartial(old)
	tx.Abort()
	writeFile(t, r.objectPath(old, ObjCommitMeta), []byte{})
	cfg, _ := r.ReadConfig()
	cfg.Set("core", "tombstone-commits", "true")
	if err := r.WriteConfig(cfg); err != nil {
		t.Fatal(err)
	}
	r, _ = Open(r.Path())

	res, err := r.Prune(ctx, PruneOptions{RefsOnly: true, Depth: 0})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pruned != 3 || res.Total != 7 { // old commit, its root dirtree, its file; the dirmeta is shared
		t.Errorf("pruned %d of %d objects, want 3 of 7", res.Pruned, res.Total)
	}
	for _, p := range []string{r.objectPath(old, ObjCommit), r.objectPath(old, ObjCommitMeta), r.partialPath(old)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after its commit was pruned (%v)", p, err)
		}
	}
	if _, err := os.Stat(r.objectPath(old, ObjTombstone)); err != nil {
		t.Errorf("no tombstone for the pruned commit: %v", err)
	}
	if ok, _ := r.HasObject(cur, ObjCommit); !ok {
		t.Errorf("the ref's commit was pruned")
	}
}
