package repo

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo/gvariant"
)

// loseEvents makes the next read of a watching CommitIndex's events
// discard what the kernel queued; with overflow it then reports an
// overflow of the queue, as the kernel does, else nothing (events missed
// silently, which only the safety-net look catches).
func loseEvents(t *testing.T) (lose func(overflow bool), lost func() bool) {
	var pending, overflow, done atomic.Bool
	orig := readInotify
	readInotify = func(fd int, buf []byte) (int, error) {
		if !pending.Load() {
			return orig(fd, buf)
		}
		for {
			if _, err := orig(fd, buf); err != nil {
				break
			}
		}
		pending.Store(false)
		done.Store(true)
		if !overflow.Load() {
			return 0, unix.EAGAIN
		}
		binary.NativeEndian.PutUint32(buf[0:], ^uint32(0)) // wd -1
		binary.NativeEndian.PutUint32(buf[4:], unix.IN_Q_OVERFLOW)
		binary.NativeEndian.PutUint32(buf[8:], 0)
		binary.NativeEndian.PutUint32(buf[12:], 0)
		return unix.SizeofInotifyEvent, nil
	}
	t.Cleanup(func() { readInotify = orig })
	return func(o bool) { overflow.Store(o); pending.Store(true) }, done.Load
}

// commitView is what a watcher of a CommitIndex built from its events.
type commitView struct {
	mu  sync.Mutex
	set map[Checksum]bool
	// strict checks that each event follows from the previous: only
	// when the events are Watch's alone, as a Refresh may apply a later
	// change and return it before Watch tells of an earlier one.
	strict bool
	errs   []error
}

func (v *commitView) apply(ev CommitEvent) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range ev.Added {
		if v.strict && v.set[c] {
			v.errs = append(v.errs, fmt.Errorf("added %s twice", c))
		}
		v.set[c] = true
	}
	for _, c := range ev.Removed {
		if v.strict && !v.set[c] {
			v.errs = append(v.errs, fmt.Errorf("removed %s, never added", c))
		}
		delete(v.set, c)
	}
	if ev.Err != nil {
		v.errs = append(v.errs, ev.Err)
	}
}

func (v *commitView) list() []Checksum {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []Checksum
	for c := range v.set {
		out = append(out, c)
	}
	slices.SortFunc(out, compareChecksums)
	return out
}

// TestCommitIndexWatch: while Watch runs, every way a commit comes or
// goes reaches the index: by Watch's events alone (without Refresh), and
// at once through Refresh, even with the kernel's queue overflowing or
// events missed (then the safety-net look catches them).
func TestCommitIndexWatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refresh bool // call Refresh after each change, instead of waiting for events
		lose    int  // 0: no events lost; 1: lost with an overflow; 2: lost silently; 3: no inotify (polls)
	}{
		{"events", false, 0},
		{"refresh", true, 0},
		{"overflow", false, 1},
		{"overflow refresh", true, 1},
		{"missed", false, 2},
		{"no inotify", false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testCommitIndexWatch(t, tc.refresh, tc.lose)
		})
	}
}

func testCommitIndexWatch(t *testing.T, refresh bool, loseKind int) {
	lose, lost := loseEvents(t)
	if loseKind == 3 {
		orig := inotifyInit
		inotifyInit = func(int) (int, error) { return -1, unix.EMFILE }
		t.Cleanup(func() { inotifyInit = orig })
	}
	b := newBuilder(t)
	root := b.tree(nil, nil)
	c1 := b.commit(root, nil, "one")
	r := b.open()
	x := r.NewCommitIndex()
	view := &commitView{set: map[Checksum]bool{c1: true}, strict: !refresh}
	if _, _, err := x.Refresh(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	poll := time.Hour
	if loseKind == 2 {
		// Missed events wait for the safety-net look; by default the
		// next comes 500 looks' time after the last, which a loaded
		// machine makes a minute.
		poll = 10 * time.Millisecond
		old := commitLookShare
		commitLookShare = 20
		t.Cleanup(func() { commitLookShare = old })
	}
	go func() {
		defer close(done)
		x.Watch(ctx, CommitWatchOptions{Poll: poll}, view.apply)
	}()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); loseKind != 3; time.Sleep(time.Millisecond) {
		x.mu.Lock()
		watching := x.n != nil
		x.mu.Unlock()
		if watching {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Watch never started watching")
		}
	}

	objPath := func(c Checksum) string {
		return filepath.Join(b.path, "objects", c.String()[:2], c.String()[2:]+".commit")
	}
	// newDirCommit is a commit whose objects/XX does not exist yet.
	newDirCommit := func() Checksum {
		m := b.dirmeta()
		for i := 0; ; i++ {
			data := gvariant.EncodeCommit(gvariant.Commit{Subject: fmt.Sprint("new dir ", i), RootTree: root[:], RootMeta: m[:]})
			c := Checksum(sha256.Sum256(data))
			if _, err := os.Stat(filepath.Dir(objPath(c))); err != nil {
				return b.put(data, "commit", c)
			}
		}
	}
	check := func(step string) {
		t.Helper()
		want, err := r.CompleteCommits()
		if err != nil {
			t.Fatal(err)
		}
		if refresh {
			added, removed, err := x.Refresh()
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			view.apply(CommitEvent{Added: added, Removed: removed})
			if got := x.Commits(); !slices.Equal(got, want) {
				t.Fatalf("%s: Refresh left %v, want %v", step, got, want)
			}
			return
		}
		// Missed events wait for the safety-net look, which comes 20
		// looks' time after the last: seconds on a loaded machine.
		wait := 10 * time.Second
		if loseKind == 2 {
			wait = time.Minute
		}
		for deadline := time.Now().Add(wait); ; time.Sleep(time.Millisecond) {
			if got := view.list(); slices.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: events left %v after %v, want %v", step, view.list(), wait, want)
			}
		}
		if got := x.Commits(); !slices.Equal(got, want) {
			t.Fatalf("%s: index lists %v, want %v", step, got, want)
		}
	}
	mark := func(c Checksum) string { return filepath.Join(b.path, "state", c.String()+".commitpartial") }
	var c2, c3, c4 Checksum
	steps := []struct {
		name string
		do   func()
	}{
		{"new commit", func() { c2 = b.commit(root, &c1, "two") }},
		{"marked partial", func() { writeFile(t, mark(c2), nil) }},
		{"completed", func() { os.Remove(mark(c2)) }},
		{"renamed in from tmp/", func() {
			data := []byte("not parsed by the index")
			c3 = Checksum{0xee, 0x01}
			tmp := filepath.Join(b.path, "tmp", "staged.commit")
			writeFile(t, tmp, data)
			os.MkdirAll(filepath.Dir(objPath(c3)), 0o755)
			if err := os.Rename(tmp, objPath(c3)); err != nil {
				t.Fatal(err)
			}
		}},
		{"pruned", func() { os.Remove(objPath(c1)) }},
		{"in a new objects/XX", func() { c4 = newDirCommit() }},
		{"objects/XX removed", func() { os.RemoveAll(filepath.Dir(objPath(c4))) }},
		{"state/ made again with a marker", func() {
			os.RemoveAll(filepath.Join(b.path, "state"))
			os.Mkdir(filepath.Join(b.path, "state"), 0o755)
			writeFile(t, mark(c2), nil)
		}},
		{"many at once", func() {
			os.Remove(mark(c2))
			os.Remove(objPath(c3))
			for i := range 50 {
				b.commit(root, &c2, fmt.Sprint("batch ", i))
			}
		}},
	}
	for i, s := range steps {
		if (loseKind == 1 || loseKind == 2) && i%2 == 1 {
			lose(loseKind == 1)
		}
		s.do()
		check(s.name)
	}
	if (loseKind == 1 || loseKind == 2) && !lost() {
		t.Error("no events were ever lost")
	}
	view.mu.Lock()
	defer view.mu.Unlock()
	errs := view.errs
	if loseKind == 3 {
		// Watch says once that it polls.
		if len(errs) == 0 || !errors.Is(errs[0], unix.EMFILE) {
			t.Errorf("without inotify: errors %v, want the reason it polls first", errs)
		} else {
			errs = errs[1:]
		}
	}
	for _, err := range errs {
		t.Error(err)
	}
}
