package repo

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lossyNotifier loses the events of one batch when told to, and says so
// as an overflow of the kernel's queue does.
type lossyNotifier struct {
	notifier
	lose atomic.Bool
}

func (l *lossyNotifier) take() ([]notifyEvent, bool) {
	evs, lost := l.notifier.take()
	if l.lose.Swap(false) {
		return nil, true
	}
	return evs, lost
}

// burst makes n ref changes of every kind under refs/: new refs in new
// directories, moves, deletions of refs and of whole directories, aliases
// and their targets moving, refs replaced by directories. Half way it
// calls mid.
func burst(t *testing.T, r *Repo, n int, mid func()) {
	t.Helper()
	refs := filepath.Join(r.Path(), "refs")
	alias := func(name, target string) {
		p := filepath.Join(refs, "heads", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	putRef(t, r, "heads/app/org.test.App0/x86_64/stable", checksumOf("0"))
	alias("app/org.test.Alias/x86_64/stable", "../../org.test.App0/x86_64/stable")
	for i := range n {
		c := checksumOf(fmt.Sprint(i))
		app := fmt.Sprintf("heads/app/org.test.App%d", i%700)
		switch i % 10 {
		case 0, 1, 2, 3: // new or moved, often in a new directory
			putRef(t, r, app+"/x86_64/stable", c)
		case 4:
			putRef(t, r, fmt.Sprintf("remotes/flathub/runtime/org.test.Rt%d/x86_64/%d", i%50, i%3), c)
		case 5:
			os.Remove(filepath.Join(refs, filepath.FromSlash(app), "x86_64", "stable"))
		case 6:
			os.RemoveAll(filepath.Join(refs, filepath.FromSlash(app)))
		case 7:
			if err := r.writeRef("", fmt.Sprintf("app/org.test.App%d/aarch64/beta", i%700), c, false); err != nil {
				t.Fatal(err)
			}
		case 8: // the aliased ref moves
			putRef(t, r, "heads/app/org.test.App0/x86_64/stable", c)
		case 9: // a ref becomes a directory, and back
			p := filepath.Join(refs, "heads", "flip")
			if st, err := os.Lstat(p); err == nil && st.IsDir() {
				os.RemoveAll(p)
				putRef(t, r, "heads/flip", c)
			} else {
				os.Remove(p)
				putRef(t, r, "heads/flip/inner", c)
			}
		}
		if i == n/2 && mid != nil {
			mid()
		}
	}
}

// TestWatchRefsBurst: after a burst of thousands of changes, with or
// without an overflow of the notification queue half way, the view built
// from the events alone equals refs/ exactly.
func TestWatchRefsBurst(t *testing.T) {
	for _, tc := range []struct {
		name     string
		overflow bool
	}{
		{"notified", false},
		{"overflow", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lossy *lossyNotifier
			if tc.overflow {
				old := newNotifier
				newNotifier = func(p string) (notifier, error) {
					n, err := old(p)
					if err != nil {
						return nil, err
					}
					lossy = &lossyNotifier{notifier: n}
					return lossy, nil
				}
				t.Cleanup(func() { newNotifier = old })
			}
			var watch *refWatcher
			old := watchStarted
			watchStarted = func(x *refWatcher) { watch = x }
			t.Cleanup(func() { watchStarted = old })
			r := initRepo(t, ModeArchive)
			w := startWatch(t, r, WatchOptions{})
			view := map[string]Checksum{}
			apply := func(ev RefEvent) {
				if ev.Err != nil {
					t.Errorf("event error: %v", ev.Err)
				}
				for _, c := range ev.Changes {
					if c.Deleted {
						delete(view, c.Name)
					} else {
						view[c.Name] = c.Checksum
					}
				}
			}
			apply(w.next("first look"))
			burst(t, r, 5000, func() {
				if lossy != nil {
					lossy.lose.Store(true)
				}
			})
			want, err := r.AllRefs()
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.After(20 * time.Second)
			for !maps.Equal(view, want) {
				select {
				case ev := <-w.events:
					apply(ev)
				case <-deadline:
					t.Fatalf("after the burst the watch sees %d refs, refs/ holds %d; differing: %v", len(view), len(want), differing(view, want))
				}
			}
			checkWatchState(t, watch)
			if lossy != nil && lossy.lose.Load() {
				t.Error("the overflow was never simulated")
			}
		})
	}
}

func differing(a, b map[string]Checksum) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out[:min(len(out), 10)]
}

// TestInotifyRecord: the notifier keeps the events of the directories
// under refs/ and the ends of their watches, drops the repository
// directory's, and takes an overflow of the kernel's queue as lost events.
func TestInotifyRecord(t *testing.T) {
	n := &inotify{repoWd: 1}
	event := func(wd int32, mask uint32, name string) []byte {
		l := 0
		if name != "" {
			l = (len(name) + 1 + 15) &^ 15
		}
		b := make([]byte, unix.SizeofInotifyEvent+l)
		binary.NativeEndian.PutUint32(b[0:], uint32(wd))
		binary.NativeEndian.PutUint32(b[4:], mask)
		binary.NativeEndian.PutUint32(b[12:], uint32(l))
		copy(b[unix.SizeofInotifyEvent:], name)
		return b
	}
	var buf []byte
	buf = append(buf, event(2, unix.IN_MOVED_TO, "main")...)
	buf = append(buf, event(3, unix.IN_CREATE|unix.IN_ISDIR, "org.test.App")...)
	buf = append(buf, event(1, unix.IN_ATTRIB, "")...)
	buf = append(buf, event(3, unix.IN_IGNORED, "")...)
	n.record(buf)
	evs, lost := n.take()
	want := []notifyEvent{{wd: 2, name: "main"}, {wd: 3, name: "org.test.App"}, {wd: 3, ignored: true}}
	if lost || !slices.Equal(evs, want) {
		t.Errorf("take() = %+v %v, want %+v false", evs, lost, want)
	}
	n.record(event(-1, unix.IN_Q_OVERFLOW, ""))
	if _, lost := n.take(); !lost {
		t.Error("IN_Q_OVERFLOW not reported as lost events")
	}
}

// lazyView is what a lazy watch's events tell: the refs of the loaded
// directories, and the stubs.
type lazyView struct {
	mu    sync.Mutex
	refs  map[string]Checksum
	stubs map[string]bool
	errs  []error
	// changed is closed, and replaced, at each event: every waiter
	// wakes (a buffered send would wake one, and the loader could
	// sleep forever beside a waiting test).
	changed chan struct{}
}

func newLazyView() *lazyView {
	return &lazyView{refs: map[string]Checksum{}, stubs: map[string]bool{}, changed: make(chan struct{})}
}

// state returns a copy of the view's refs, its number of stubs and
// errors, and a channel closed at the next event.
func (v *lazyView) state() (refs map[string]Checksum, stubs int, errs []error, next <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.refs), len(v.stubs), slices.Clone(v.errs), v.changed
}

// waitEqual waits until the view holds exactly want and no stubs, or
// fails the test with what after timeout.
func (v *lazyView) waitEqual(t *testing.T, want map[string]Checksum, timeout time.Duration, what string) {
	t.Helper()
	expired := time.After(timeout)
	for {
		got, stubs, errs, next := v.state()
		if stubs == 0 && maps.Equal(got, want) {
			return
		}
		select {
		case <-next:
		case <-expired:
			t.Fatalf("%s: the watch sees %d refs and %d stubs, refs/ holds %d refs; differing: %v; errors %v",
				what, len(got), stubs, len(want), differing(got, want), errs)
		}
	}
}

func (v *lazyView) apply(ev RefEvent) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ev.Err != nil {
		v.errs = append(v.errs, ev.Err)
	}
	for _, c := range ev.Changes {
		switch {
		case c.Dir && c.Deleted:
			delete(v.stubs, c.Name)
			for p := range v.refs {
				if strings.HasPrefix(p, c.Name+"/") {
					delete(v.refs, p)
				}
			}
			for p := range v.stubs {
				if strings.HasPrefix(p, c.Name+"/") {
					delete(v.stubs, p)
				}
			}
		case c.Deleted:
			delete(v.refs, c.Name)
		}
	}
	for _, c := range ev.Changes {
		switch {
		case c.Dir && !c.Deleted:
			v.stubs[c.Name] = true
		case !c.Deleted:
			v.refs[c.Name] = c.Checksum
		}
	}
	for _, d := range ev.Loaded {
		delete(v.stubs, d)
	}
	close(v.changed)
	v.changed = make(chan struct{})
}

// aStub returns a stub of the view, or "" and a channel closed at the
// next event.
func (v *lazyView) aStub() (string, <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for d := range v.stubs {
		return d, nil
	}
	return "", v.changed
}

// loadAll loads every stub the view shows, as they come, until ctx is
// done: a walk of the whole tree racing the changes.
func (v *lazyView) loadAll(ctx context.Context, l *RefLoader) {
	for ctx.Err() == nil {
		d, next := v.aStub()
		if d == "" {
			select {
			case <-next:
			case <-ctx.Done():
			}
			continue
		}
		l.Load(ctx, d)
	}
}

// TestWatchRefsLazyBurst: a lazy watch whose every stub is loaded as it
// shows, racing a burst of thousands of changes, with or without an
// overflow half way, ends with a view equal to refs/.
func TestWatchRefsLazyBurst(t *testing.T) {
	for _, overflow := range []bool{false, true} {
		t.Run(fmt.Sprint("overflow=", overflow), func(t *testing.T) {
			var lossy *lossyNotifier
			if overflow {
				old := newNotifier
				newNotifier = func(p string) (notifier, error) {
					n, err := old(p)
					if err != nil {
						return nil, err
					}
					lossy = &lossyNotifier{notifier: n}
					return lossy, nil
				}
				t.Cleanup(func() { newNotifier = old })
			}
			var watch *refWatcher
			old := watchStarted
			watchStarted = func(x *refWatcher) { watch = x }
			t.Cleanup(func() { watchStarted = old })
			r := initRepo(t, ModeArchive)
			putRef(t, r, "heads/app/org.test.Before/x86_64/stable", checksumOf("before"))
			v := newLazyView()
			l := NewRefLoader()
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			wg.Go(func() { r.WatchRefs(ctx, WatchOptions{Poll: time.Hour, Loader: l}, v.apply) })
			wg.Go(func() { v.loadAll(ctx, l) })
			defer func() { cancel(); wg.Wait() }()
			burst(t, r, 5000, func() {
				if lossy != nil {
					lossy.lose.Store(true)
				}
			})
			want, err := r.AllRefs()
			if err != nil {
				t.Fatal(err)
			}
			v.waitEqual(t, want, 20*time.Second, "after the burst")
			checkWatchState(t, watch)
			if lossy != nil && lossy.lose.Load() {
				t.Error("the overflow was never simulated")
			}
		})
	}
}
