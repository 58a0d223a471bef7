package repo

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// verify checks the tree's links and indexes: every node is found by
// its path and, if watched, by its watch descriptor; the counts agree.
func (t *refTree) verify() error {
	dirs, live, wds := 0, 0, 0
	for id := range t.size() {
		n := t.n(id)
		if n.kind == nodeFree {
			continue
		}
		live += int(n.nameLen)
		if n.kind == nodeDir {
			dirs++
		}
		if n.wd >= 0 {
			wds++
			if got := t.byWd(n.wd); got != id {
				return fmt.Errorf("node %d (%s) watched as %d, which finds %d", id, t.path(id), n.wd, got)
			}
		}
		if id == rootNode {
			continue
		}
		if got := t.find(t.path(id)); got != id {
			return fmt.Errorf("node %d at %q: find returns %d", id, t.path(id), got)
		}
		if !t.isDir(n.parent) {
			return fmt.Errorf("node %d (%s) in node %d, no directory", id, t.path(id), n.parent)
		}
	}
	if dirs != t.dirs || live != t.liveNames || wds != t.wds.n {
		return fmt.Errorf("counted %d directories, %d name bytes, %d watches; the tree says %d, %d, %d",
			dirs, live, wds, t.dirs, t.liveNames, t.wds.n)
	}
	return nil
}

// TestRefTree: random additions and removals of refs and directories,
// many in one directory (which then indexes them) and many names alike,
// leave the tree equal to a map of paths, its indexes right, and its name
// arena bounded.
func TestRefTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tree := newRefTree(nodeDir)
	model := map[string]uint8{}
	nextWd := int32(1)
	names := []string{"x86_64", "stable", "app"}
	pick := func() string { // a directory of the model, or ""
		var ds []string
		for p, k := range model {
			if k == nodeDir {
				ds = append(ds, p)
			}
		}
		slices.Sort(ds)
		if len(ds) == 0 || rng.IntN(4) == 0 {
			return ""
		}
		return ds[rng.IntN(len(ds))]
	}
	wasBig := false
	for i := range 6000 {
		wasBig = wasBig || len(tree.big) > 0
		if i%500 == 0 {
			if err := tree.verify(); err != nil {
				t.Fatalf("after %d steps: %v", i, err)
			}
		}
		switch op := rng.IntN(10); {
		case op < 6: // add
			dir := pick()
			if rng.IntN(3) == 0 {
				dir = "big"
				if _, ok := model[dir]; !ok {
					tree.addPath(dir, nodeDir)
					model[dir] = nodeDir
				}
			}
			name := names[rng.IntN(len(names))]
			if rng.IntN(2) == 0 {
				name = "org.test.App" + strconv.Itoa(i)
			}
			p := join(dir, name)
			if _, ok := model[p]; ok {
				continue
			}
			kind := []uint8{nodeRef, nodeAlias, nodeDir, nodeStub}[rng.IntN(4)]
			id := tree.addPath(p, kind)
			if id == noNode {
				t.Fatalf("make %s: no node", p)
			}
			model[p] = kind
			if kind == nodeRef || kind == nodeAlias {
				tree.setSum(id, checksumOf(p))
			}
			if kind == nodeDir {
				tree.setWd(id, nextWd)
				nextWd++
			}
		case op < 9: // remove a ref or a directory with all below
			var ps []string
			for p := range model {
				ps = append(ps, p)
			}
			if len(ps) == 0 {
				continue
			}
			slices.Sort(ps)
			p := ps[rng.IntN(len(ps))]
			if p == "big" && i < 5000 { // let it grow big first
				continue
			}
			tree.remove(tree.find(p), nil)
			for q := range model {
				if q == p || strings.HasPrefix(q, p+"/") {
					delete(model, q)
				}
			}
		default: // a directory's watch moves to another
			a, b := tree.find(pick()), tree.find(pick())
			if a != rootNode && b != rootNode && tree.n(a).kind == nodeDir && tree.n(b).kind == nodeDir && tree.n(a).wd >= 0 {
				tree.setWd(b, tree.n(a).wd)
				if a != b && tree.n(a).wd != -1 {
					t.Fatalf("the watch of %s moved to %s, and stayed", tree.path(a), tree.path(b))
				}
			}
		}
	}
	if err := tree.verify(); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint8{}
	tree.walk(rootNode, "", func(id uint32, p string) {
		got[p] = tree.n(id).kind
		if tree.isRef(id) && tree.sum(id) != checksumOf(p) {
			t.Errorf("%s: commit %s, want %s", p, tree.sum(id), checksumOf(p))
		}
	})
	if !maps.Equal(got, model) {
		t.Errorf("the tree holds %d nodes, the model %d", len(got), len(model))
	}
	if !wasBig {
		t.Error("no directory indexed its children")
	}
	if len(tree.names) > max(1<<16, 2*tree.liveNames) {
		t.Errorf("name arena of %d bytes for %d bytes of names", len(tree.names), tree.liveNames)
	}
}

// TestWatchRefsRenameDirs: directories renamed under refs/ move their
// refs, and what changes in them later is seen under their new names,
// in an eager watch and in a lazy one with everything loaded.
func TestWatchRefsRenameDirs(t *testing.T) {
	for _, lazy := range []bool{false, true} {
		t.Run(fmt.Sprint("lazy=", lazy), func(t *testing.T) {
			r := initRepo(t, ModeArchive)
			a, b := checksumOf("a"), checksumOf("b")
			putRef(t, r, "heads/one/x86_64/stable", a)
			putRef(t, r, "heads/two/x86_64/stable", a)
			var w *refWatcher
			old := watchStarted
			watchStarted = func(x *refWatcher) { w = x }
			t.Cleanup(func() { watchStarted = old })
			var l *RefLoader
			if lazy {
				l = NewRefLoader()
			}
			v := newLazyView()
			ctx := t.Context()
			done := make(chan struct{})
			go func() { defer close(done); r.WatchRefs(ctx, WatchOptions{Poll: time.Hour, Loader: l}, v.apply) }()
			if lazy {
				go v.loadAll(ctx, l)
			}
			refs := filepath.Join(r.Path(), "refs", "heads")
			steps := []func(){
				func() {}, // the first look
				func() { os.Rename(filepath.Join(refs, "one"), filepath.Join(refs, "uno")) },
				func() { putRef(t, r, "heads/uno/x86_64/stable", b) },
				// A name before the old one, the other way.
				func() { os.Rename(filepath.Join(refs, "two"), filepath.Join(refs, "a-two")) },
				func() { putRef(t, r, "heads/a-two/x86_64/beta", b) },
				func() { os.Rename(filepath.Join(refs, "uno", "x86_64"), filepath.Join(refs, "a-two", "aarch64")) },
				func() { putRef(t, r, "heads/a-two/aarch64/stable", a) },
				func() { os.Rename(filepath.Join(refs, "a-two"), filepath.Join(refs, "uno", "two")) },
				func() { putRef(t, r, "heads/uno/two/aarch64/stable", b) },
			}
			for i, step := range steps {
				step()
				want, err := r.AllRefs()
				if err != nil {
					t.Fatal(err)
				}
				v.waitEqual(t, want, 10*time.Second, fmt.Sprint("step ", i))
			}
			if l != nil {
				// Its loads done, the watch's state is quiet.
				w.mu.Lock()
				err := w.t.verify()
				w.mu.Unlock()
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// checkWatchState checks, once the watch w is quiet, its tree's links and
// indexes, and that it holds each of its inotify watches in a node of the
// tree (a watch leaked, or a node that lost its watch, fails), every
// directory being watched in an eager watch.
func checkWatchState(t *testing.T, w *refWatcher) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		err := w.t.verify()
		if err == nil {
			err = w.checkWatches()
		}
		w.mu.Unlock()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // events of the last changes may still come
	}
}

func (w *refWatcher) checkWatches() error {
	n := w.n
	if l, ok := n.(*lossyNotifier); ok {
		n = l.notifier
	}
	in, ok := n.(*inotify)
	if !ok {
		return nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", in.fd))
	if err != nil {
		return err
	}
	kernel := strings.Count(string(b), "inotify wd:") - 1 // the repository directory's
	dirs, watched := 0, 0
	for id := range w.t.size() {
		if w.t.n(id).kind == nodeDir {
			dirs++
			if w.t.n(id).wd >= 0 {
				watched++
			}
		}
	}
	if kernel != watched || !w.lazy && watched != dirs {
		return fmt.Errorf("%d directories read, %d of them watched; the kernel has %d watches", dirs, watched, kernel)
	}
	return nil
}
