package repo

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// watchTest runs WatchRefs on r until the test ends, with a poll far
// longer than any wait, so that only notifications make it look.
type watchTest struct {
	t      *testing.T
	events chan RefEvent
}

func startWatch(t *testing.T, r *Repo, o WatchOptions) *watchTest {
	t.Helper()
	if o.Poll == 0 {
		o.Poll = time.Hour
	}
	w := &watchTest{t: t, events: make(chan RefEvent, 1000)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.WatchRefs(ctx, o, func(ev RefEvent) { w.events <- ev })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("WatchRefs did not return within 30s of its context's end")
		}
	})
	return w
}

// next returns the next event, failing the test after 10s.
func (w *watchTest) next(what string) RefEvent {
	w.t.Helper()
	select {
	case ev := <-w.events:
		return ev
	case <-time.After(10 * time.Second):
		w.t.Fatalf("%s: no event within 10s", what)
		return RefEvent{}
	}
}

// waitFor returns once an event holds every change of want, failing the
// test after 10s.
func (w *watchTest) waitFor(what string, want ...RefChange) {
	w.t.Helper()
	deadline := time.After(10 * time.Second)
	seen := map[RefChange]bool{}
	for {
		select {
		case ev := <-w.events:
			if ev.Err != nil {
				w.t.Errorf("%s: %v", what, ev.Err)
			}
			for _, c := range ev.Changes {
				seen[c] = true
			}
			if !slices.ContainsFunc(want, func(c RefChange) bool { return !seen[c] }) {
				return
			}
		case <-deadline:
			w.t.Fatalf("%s: not seen within 10s (seen %v)", what, seen)
		}
	}
}

func checksumOf(s string) Checksum { return Checksum(sha256.Sum256([]byte(s))) }

// putRef writes a ref as ostree does (temporary file renamed over it),
// with no mtime bump of the repository: only the watch of refs/ sees it.
func putRef(t *testing.T, r *Repo, name string, c Checksum) {
	t.Helper()
	p := filepath.Join(r.Path(), "refs", filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p+".tmp", []byte(c.String()+"\n"))
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
}

// TestWatchRefs: every kind of ref change under refs/ reaches the watcher
// through notifications alone, in directories that existed when it
// started and in ones made later.
func TestWatchRefs(t *testing.T) {
	r := initRepo(t, ModeArchive)
	a, b := checksumOf("a"), checksumOf("b")
	putRef(t, r, "heads/os/main", a)
	putRef(t, r, "heads/gone", a)
	w := startWatch(t, r, WatchOptions{Since: map[string]Checksum{"heads/gone": a, "heads/stale": b}})
	first := w.next("first look")
	want := []RefChange{{Name: "heads/os/main", Checksum: a}, {Name: "heads/stale", Deleted: true}}
	if first.Err != nil || !slices.Equal(first.Changes, want) {
		t.Errorf("first event %+v, want %+v", first, want)
	}

	putRef(t, r, "heads/os/main", b)
	w.waitFor("moved ref", RefChange{Name: "heads/os/main", Checksum: b})
	putRef(t, r, "heads/new/deep/ref", a)
	w.waitFor("ref in new directories", RefChange{Name: "heads/new/deep/ref", Checksum: a})
	putRef(t, r, "heads/new/deep/second", b) // the new directory is watched now
	w.waitFor("second ref in a new directory", RefChange{Name: "heads/new/deep/second", Checksum: b})
	putRef(t, r, "remotes/origin/os/main", a)
	w.waitFor("remote ref", RefChange{Name: "remotes/origin/os/main", Checksum: a})
	if err := os.RemoveAll(filepath.Join(r.Path(), "refs", "mirrors")); err != nil {
		t.Fatal(err)
	}
	putRef(t, r, "mirrors/org.example.Os/os/main", b)
	w.waitFor("mirror ref in a new refs/mirrors", RefChange{Name: "mirrors/org.example.Os/os/main", Checksum: b})
	if err := os.Remove(filepath.Join(r.Path(), "refs", "heads", "gone")); err != nil {
		t.Fatal(err)
	}
	w.waitFor("deleted ref", RefChange{Name: "heads/gone", Deleted: true})
	if err := os.RemoveAll(filepath.Join(r.Path(), "refs", "heads", "new")); err != nil {
		t.Fatal(err)
	}
	w.waitFor("deleted directory", RefChange{Name: "heads/new/deep/ref", Deleted: true}, RefChange{Name: "heads/new/deep/second", Deleted: true})
}

// TestWatchRefsWriters: the repository's own writer is seen, and so is the
// mtime bump alone, with which writers end a transaction.
func TestWatchRefsWriters(t *testing.T) {
	r := initRepo(t, ModeArchive)
	w := startWatch(t, r, WatchOptions{})
	if ev := w.next("first look"); ev.Err != nil || len(ev.Changes) != 0 {
		t.Errorf("first event of an empty repository: %+v", ev)
	}
	// Nothing else happened since the first look: this event is the bump's.
	r.touch()
	if ev := w.next("mtime bump"); ev.Err != nil || len(ev.Changes) != 0 {
		t.Errorf("after the mtime bump: %+v, want an event with no change", ev)
	}
	c := checksumOf("c")
	if err := r.writeRef("", "main", c, false); err != nil {
		t.Fatal(err)
	}
	w.waitFor("ref written by the repository", RefChange{Name: "heads/main", Checksum: c})
}

// TestWatchRefsPolls: without notifications the watcher says so, then
// polls.
func TestWatchRefsPolls(t *testing.T) {
	old := newNotifier
	newNotifier = func(string) (notifier, error) { return nil, errors.ErrUnsupported }
	t.Cleanup(func() { newNotifier = old })
	r := initRepo(t, ModeArchive)
	w := startWatch(t, r, WatchOptions{})
	if ev := w.next("first event"); !errors.Is(ev.Err, errors.ErrUnsupported) || !strings.Contains(ev.Err.Error(), "polling") {
		t.Errorf("first event %+v, want the reason it polls", ev)
	}
	c := checksumOf("c")
	putRef(t, r, "heads/main", c)
	w.waitFor("ref seen by polling", RefChange{Name: "heads/main", Checksum: c})
}

// TestWatchRefsStops: once its context is done WatchRefs returns and
// leaves no goroutine behind.
func TestWatchRefsStops(t *testing.T) {
	r := initRepo(t, ModeArchive)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	looked := make(chan struct{}, 1)
	go func() {
		defer close(done)
		r.WatchRefs(ctx, WatchOptions{}, func(RefEvent) {
			select {
			case looked <- struct{}{}:
			default:
			}
		})
	}()
	<-looked
	putRef(t, r, "heads/main", checksumOf("x")) // a reader busy with events
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("WatchRefs did not return within 30s of its context's end")
	}
	// A goroutine that signalled its end may still be returning.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		left := slices.ContainsFunc([]string{"repo.(*inotify).read", "repo.(*Repo).WatchRefs"}, func(f string) bool {
			return strings.Contains(stacks, f)
		})
		if !left {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a goroutine of WatchRefs is still running after it returned:\n%s", stacks)
		}
	}
}

// TestWatchRefsLazy: a lazy watch reads refs/ alone at first, a directory
// when it is loaded, tells of directories made and removed in loaded
// ones, and loads the directory of the ref an alias names so that the
// alias follows it.
func TestWatchRefsLazy(t *testing.T) {
	r := initRepo(t, ModeArchive)
	a, b := checksumOf("a"), checksumOf("b")
	putRef(t, r, "heads/os/main", a)
	putRef(t, r, "heads/app/org.test.App/x86_64/stable", a)
	l := NewRefLoader()
	w := startWatch(t, r, WatchOptions{Loader: l})
	first := w.next("first look")
	want := []RefChange{{Name: "heads", Dir: true}, {Name: "mirrors", Dir: true}, {Name: "remotes", Dir: true}}
	if first.Err != nil || !slices.Equal(first.Changes, want) || !slices.Equal(first.Loaded, []string{""}) {
		t.Fatalf("first event %+v, want %+v loading refs/", first, want)
	}
	load := func(dir string, want ...RefChange) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- l.Load(t.Context(), dir) }()
		ev := w.next("load " + dir)
		if err := <-done; err != nil {
			t.Fatalf("load %s: %v", dir, err)
		}
		if ev.Err != nil || !slices.Equal(ev.Changes, want) || !slices.Equal(ev.Loaded, []string{dir}) {
			t.Fatalf("load %s: event %+v, want %+v", dir, ev, want)
		}
	}
	load("heads", RefChange{Name: "heads/app", Dir: true}, RefChange{Name: "heads/os", Dir: true})
	// Loaded already, or unknown: no event.
	if err := l.Load(t.Context(), "heads"); err != nil {
		t.Fatal(err)
	}
	if err := l.Load(t.Context(), "heads/nothing"); err != nil {
		t.Fatal(err)
	}
	load("heads/os", RefChange{Name: "heads/os/main", Checksum: a})
	putRef(t, r, "heads/os/main", b)
	w.waitFor("moved ref in a loaded directory", RefChange{Name: "heads/os/main", Checksum: b})
	putRef(t, r, "heads/new/ref", a)
	w.waitFor("new directory in a loaded one", RefChange{Name: "heads/new", Dir: true})
	if err := os.RemoveAll(filepath.Join(r.Path(), "refs", "heads", "os")); err != nil {
		t.Fatal(err)
	}
	w.waitFor("removed directory", RefChange{Name: "heads/os", Dir: true, Deleted: true}, RefChange{Name: "heads/os/main", Deleted: true})

	// An alias in a loaded directory loads the directories down to its
	// target, and moves with it.
	if err := os.Symlink("app/org.test.App/x86_64/stable", filepath.Join(r.Path(), "refs", "heads", "alias")); err != nil {
		t.Fatal(err)
	}
	w.waitFor("alias", RefChange{Name: "heads/alias", Checksum: a}, RefChange{Name: "heads/app/org.test.App/x86_64/stable", Checksum: a})
	putRef(t, r, "heads/app/org.test.App/x86_64/stable", b)
	w.waitFor("alias of a moved ref", RefChange{Name: "heads/alias", Checksum: b}, RefChange{Name: "heads/app/org.test.App/x86_64/stable", Checksum: b})
}

// TestWatchRefsLoadAll: LoadAll reads the stubs among the directories it
// is given, in one event that lists them all as loaded, and skips those
// read already or unknown, whether it reads them in goroutines or in
// the caller's (RefLoader.Parallel 1).
func TestWatchRefsLoadAll(t *testing.T) {
	for _, par := range []int{0, 1} {
		t.Run(fmt.Sprint("parallel ", par), func(t *testing.T) { testWatchRefsLoadAll(t, par) })
	}
}

func testWatchRefsLoadAll(t *testing.T, par int) {
	r := initRepo(t, ModeArchive)
	a, b := checksumOf("a"), checksumOf("b")
	putRef(t, r, "heads/app/org.test.A/x86_64/stable", a)
	putRef(t, r, "heads/app/org.test.B/aarch64/beta", b)
	putRef(t, r, "heads/app/org.test.B/main", a)
	putRef(t, r, "heads/app/org.test.C/x86_64/stable", b)
	l := NewRefLoader()
	l.Parallel = par
	w := startWatch(t, r, WatchOptions{Loader: l})
	w.next("first look")
	loadAll := func(dirs []string, loaded []string, want ...RefChange) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- l.LoadAll(t.Context(), dirs) }()
		ev := w.next(fmt.Sprint("load ", dirs))
		if err := <-done; err != nil {
			t.Fatalf("load %v: %v", dirs, err)
		}
		if ev.Err != nil || !slices.Equal(ev.Changes, want) || !slices.Equal(ev.Loaded, loaded) {
			t.Fatalf("load %v: event %+v, want %+v loading %v", dirs, ev, want, loaded)
		}
	}
	loadAll([]string{"heads"}, []string{"heads"}, RefChange{Name: "heads/app", Dir: true})
	loadAll([]string{"heads", "heads/app", "heads/nothing"}, []string{"heads/app"},
		RefChange{Name: "heads/app/org.test.A", Dir: true}, RefChange{Name: "heads/app/org.test.B", Dir: true},
		RefChange{Name: "heads/app/org.test.C", Dir: true})
	loadAll([]string{"heads/app/org.test.A", "heads/app/org.test.B", "heads/app/org.test.B"},
		[]string{"heads/app/org.test.A", "heads/app/org.test.B"},
		RefChange{Name: "heads/app/org.test.A/x86_64", Dir: true}, RefChange{Name: "heads/app/org.test.B/aarch64", Dir: true},
		RefChange{Name: "heads/app/org.test.B/main", Checksum: a})
	// Loaded already, or unknown: no event.
	if err := l.LoadAll(t.Context(), []string{"heads/app/org.test.A", "heads/none"}); err != nil {
		t.Fatal(err)
	}
	loadAll([]string{"heads/app/org.test.B/aarch64"}, []string{"heads/app/org.test.B/aarch64"},
		RefChange{Name: "heads/app/org.test.B/aarch64/beta", Checksum: b})
	// Watched once loaded.
	putRef(t, r, "heads/app/org.test.B/aarch64/beta", a)
	w.waitFor("moved ref in a directory loaded with others", RefChange{Name: "heads/app/org.test.B/aarch64/beta", Checksum: a})
}

// TestWatchPollGrows: a lazy watch that loaded many directories since its
// last safety-net look puts the next off in proportion to its cost.
func TestWatchPollGrows(t *testing.T) {
	w := &refWatcher{lazy: true, t: newRefTree(nodeDir), lastDirs: 10, lastTook: 10 * time.Millisecond, lastEnd: time.Now()}
	for i := range 19 {
		w.t.add(rootNode, fmt.Sprint(i), nodeDir)
	}
	if wait := w.grown(time.Second); wait != 0 {
		t.Errorf("twice the directories: wait %v more, want none", wait)
	}
	for i := 19; i < 99; i++ {
		w.t.add(rootNode, fmt.Sprint(i), nodeDir)
	}
	// Ten times the directories: 100ms a look, due 50s after the last.
	if wait := w.grown(time.Second); wait < 40*time.Second || wait > 50*time.Second {
		t.Errorf("ten times the directories: wait %v more, want about 50s", wait)
	}
	w.lazy = false
	if wait := w.grown(time.Second); wait != 0 {
		t.Errorf("an eager watch: wait %v more, want none", wait)
	}
}
