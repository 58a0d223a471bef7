package fusefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/internal/testrepo"
	"github.com/repofs/repofs/repo"
)

// noPoll is a RefPoll far longer than any wait of a test: a change that
// shows was reported by the watch's notifications, not by its poll.
var noPoll = MountOptions{Options: Options{RefPoll: time.Hour}}

// waitFor waits up to 60s for ok: the deadline only bounds a hang.
func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not visible after 60s", what)
		}
	}
}

// pointsTo tells whether the symlink at link points at commit c.
func pointsTo(link, c string) func() bool {
	return func() bool {
		target, err := os.Readlink(link)
		return err == nil && strings.HasSuffix(target, "/commits/"+c)
	}
}

func absent(p string) func() bool {
	return func() bool { _, err := os.Lstat(p); return errors.Is(err, os.ErrNotExist) }
}

// TestRefsTree: directories under refs/ come with the refs below them and
// go with the last one, except the top ones; each change names the paths
// whose entries the kernel must forget.
func TestRefsTree(t *testing.T) {
	tr := newRefsTree()
	a, b := repo.Checksum{1}, repo.Checksum{2}
	for _, step := range []struct {
		set     string // or remove, when del
		c       repo.Checksum
		del     bool
		changed []string
	}{
		{set: "heads/os/x86/main", c: a, changed: []string{"heads/os/x86/main", "heads/os/x86", "heads/os"}},
		{set: "heads/os/x86/main", c: a},
		{set: "heads/os/x86/main", c: b, changed: []string{"heads/os/x86/main"}},
		{set: "heads/os/arm", c: a, changed: []string{"heads/os/arm"}},
		{set: "heads/os/x86/main", del: true, changed: []string{"heads/os/x86/main", "heads/os/x86"}},
		{set: "heads/os/x86/main", del: true},
		{set: "heads/os/arm", del: true, changed: []string{"heads/os/arm", "heads/os"}},
		{set: "mirrors/org.example.Os/main", c: a, changed: []string{"mirrors/org.example.Os/main", "mirrors/org.example.Os"}},
		{set: "mirrors/org.example.Os/main", del: true, changed: []string{"mirrors/org.example.Os/main", "mirrors/org.example.Os"}},
	} {
		var changed []string
		if step.del {
			changed = tr.remove(step.set)
		} else {
			changed = tr.set(step.set, step.c)
		}
		if !slices.Equal(changed, step.changed) {
			t.Errorf("after %+v: changed %q, want %q", step, changed, step.changed)
		}
	}
	if tr.refs() != 0 || tr.root.nkids != 3 || tr.find("heads").nkids != 0 || tr.find("mirrors").nkids != 0 {
		t.Errorf("after removing every ref: %+v, want only refs/ and %v", tr, topDirs)
	}
}

// TestLiveRefs moves, adds and deletes refs with repofs's writer and with
// a bare rename (no mtime bump of the repository): each change shows
// within the wait, though the safety-net poll is an hour away.
func TestLiveRefs(t *testing.T) {
	repoPath := filepath.Join(t.TempDir(), "repo")
	r := testrepo.Init(t, repoPath, "archive")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("0")}})
	first := testrepo.Commit(t, repoPath, "os/main", src, repotest.CommitOpts{})
	_, mp := testMountWith(t, repoPath, noPoll)
	link := filepath.Join(mp, "refs", "heads", "os", "main")
	if target, err := os.Readlink(link); err != nil || target != "../../../commits/"+first {
		t.Fatalf("readlink: %q %v", target, err)
	}
	// A process inside the old commit keeps its tree.
	old, err := os.Open(filepath.Join(mp, "commits", first, "v"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	for i := 1; i <= 5; i++ {
		repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte(fmt.Sprint(i))}})
		c := testrepo.Commit(t, repoPath, "os/main", src, repotest.CommitOpts{})
		waitFor(t, "ref move", pointsTo(link, c))
		if b, err := os.ReadFile(link + "/v"); err != nil || string(b) != fmt.Sprint(i) {
			t.Errorf("through the moved ref: %q %v", b, err)
		}
		// The kernel caches listings; commits/ must still show the new
		// commit.
		waitFor(t, "commits/ listing", func() bool {
			ents, _ := os.ReadDir(filepath.Join(mp, "commits"))
			return slices.ContainsFunc(ents, func(e fs.DirEntry) bool { return e.Name() == c })
		})
	}
	ctx := t.Context()
	newRef := filepath.Join(mp, "refs/heads/new/ref")
	if err := r.SetRefImmediate(ctx, "", "new/ref", mustChecksum(t, first)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new ref", pointsTo(newRef, first))
	if err := r.DeleteRefImmediate(ctx, "", "new/ref"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleted ref", absent(newRef))
	waitFor(t, "its emptied directory", absent(filepath.Dir(newRef)))

	// Another tool's write: a rename into refs/, nothing else.
	p := filepath.Join(repoPath, "refs", "remotes", "origin", "os", "main")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := repo.WriteFileAtomic(p, []byte(first+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "remote ref renamed in", pointsTo(filepath.Join(mp, "refs/remotes/origin/os/main"), first))

	if b, err := io.ReadAll(old); err != nil || string(b) != "0" {
		t.Errorf("the old commit's file: %q %v", b, err)
	}
}

// TestLiveRefsOstree: refs that the real ostree commits, creates and
// deletes show in the mount through the watch alone.
func TestLiveRefsOstree(t *testing.T) {
	repotest.RequireOstree(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, repoPath, "archive")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("0")}})
	first := repotest.Commit(t, repoPath, "os/main", src, repotest.CommitOpts{})
	_, mp := testMountWith(t, repoPath, noPoll)
	link := filepath.Join(mp, "refs", "heads", "os", "main")
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("1")}})
	second := repotest.Commit(t, repoPath, "os/main", src, repotest.CommitOpts{})
	waitFor(t, "ref moved by ostree commit", pointsTo(link, second))
	newRef := filepath.Join(mp, "refs/heads/new/ref")
	repotest.Ostree(t, "--repo="+repoPath, "refs", "--create=new/ref", first)
	waitFor(t, "ref created by ostree refs", pointsTo(newRef, first))
	repotest.Ostree(t, "--repo="+repoPath, "refs", "--delete", "new/ref")
	waitFor(t, "ref deleted by ostree refs", absent(newRef))
}

// TestAbandonedRefsListing: a listing of refs/heads abandoned half way must
// not serve its old entries to a later listing once refs changed.
func TestAbandonedRefsListing(t *testing.T) {
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "archive")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "f", Kind: repotest.File, Data: []byte("f")}})
	c := testrepo.Commit(t, repoPath, "main", src, repotest.CommitOpts{})
	writeRef := func(name string) {
		t.Helper()
		p := filepath.Join(repoPath, "refs", "heads", name)
		if err := repo.WriteFileAtomic(p, []byte(c+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const refs = 600
	for i := range refs {
		writeRef(fmt.Sprintf("a-ref-with-a-name-long-enough-to-need-many-requests-%04d", i))
	}
	m, mp := testMountWith(t, repoPath, noPoll)
	heads := filepath.Join(mp, "refs", "heads")
	f, err := os.Open(heads)
	if err != nil {
		t.Fatal(err)
	}
	if ents, err := f.ReadDir(10); err != nil || len(ents) != 10 {
		t.Fatalf("partial listing: %d %v", len(ents), err)
	}
	f.Close()
	writeRef("zz-new")
	// Once the kernel was told, one listing must be right.
	waitFor(t, "the new ref", func() bool { return m.FS.refs.caughtUp("heads/zz-new") })
	ents, err := os.ReadDir(heads)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != refs+2 || ents[len(ents)-1].Name() != "zz-new" {
		t.Errorf("refs/heads lists %d entries, want %d ending with zz-new", len(ents), refs+2)
	}
}

// BenchmarkRefLatency measures how long a ref moved by the repository's
// writer takes to show in the mount, from the moment the write returns:
// ns/visible on average, max-ns/visible at worst.
func BenchmarkRefLatency(b *testing.B) {
	repoPath := filepath.Join(b.TempDir(), "repo")
	r := testrepo.Init(b, repoPath, "archive")
	src := b.TempDir()
	var commits [2]repo.Checksum
	for i := range commits {
		repotest.WriteTree(b, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte(fmt.Sprint(i))}})
		c, err := repo.ParseChecksum(testrepo.Commit(b, repoPath, "main", src, repotest.CommitOpts{}))
		if err != nil {
			b.Fatal(err)
		}
		commits[i] = c
	}
	_, mp := mountForTest(b, repoPath, noPoll)
	link := filepath.Join(mp, "refs", "heads", "main")
	ctx := context.Background()
	var total, worst time.Duration
	n := 0
	for ; b.Loop(); n++ {
		c := commits[n%2]
		if err := r.SetRefImmediate(ctx, "", "main", c); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for !pointsTo(link, c.String())() {
			if time.Since(start) > 10*time.Second {
				b.Fatal("the moved ref did not show within 10s")
			}
			time.Sleep(50 * time.Microsecond)
		}
		lat := time.Since(start)
		total += lat
		worst = max(worst, lat)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(n), "ns/visible")
	b.ReportMetric(float64(worst.Nanoseconds()), "max-ns/visible")
}

// TestRefsBurst: after a burst of 5,000 ref changes, some by the real
// ostree, some creating directories, some deleting refs and whole
// directories, the mount's refs/heads lists exactly what `ostree refs`
// does, pointing at the same commits.
func TestRefsBurst(t *testing.T) {
	repotest.RequireOstree(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	commits := twoCommits(t, repoPath, "seed")
	_, mp := testMountWith(t, repoPath, noPoll)
	heads := filepath.Join(repoPath, "refs", "heads")
	for i := range 5000 {
		name := fmt.Sprintf("app/org.test.App%d/x86_64/stable", i%600)
		c := commits[i%2]
		switch {
		case i%50 == 0:
			repotest.Ostree(t, "--repo="+repoPath, "refs", "--force", "--create="+name, c)
		case i%50 == 25:
			repotest.RunOstree(t, "--repo="+repoPath, "refs", "--delete", name)
		case i%10 == 3:
			os.Remove(filepath.Join(heads, filepath.FromSlash(name)))
		case i%10 == 7:
			os.RemoveAll(filepath.Join(heads, "app", fmt.Sprintf("org.test.App%d", i%600)))
		default:
			p := filepath.Join(heads, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := repo.WriteFileAtomic(p, []byte(c+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(repotest.Ostree(t, "--repo="+repoPath, "refs")), "\n") {
		want[line] = strings.TrimSpace(repotest.Ostree(t, "--repo="+repoPath, "rev-parse", line))
	}
	waitMountRefs(t, mp, want, "after the burst")
}

// twoCommits makes an archive repository at repoPath with two commits of
// a one-file tree, for bursts of refs to move between; ref points at the
// second.
func twoCommits(t *testing.T, repoPath, ref string) []string {
	t.Helper()
	repotest.Init(t, repoPath, "archive")
	src := t.TempDir()
	var commits []string
	for i := range 2 {
		repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte(fmt.Sprint(i))}})
		commits = append(commits, repotest.Commit(t, repoPath, ref, src, repotest.CommitOpts{}))
	}
	return commits
}

// waitMountRefs waits until the symlinks under the mount's refs/heads
// name exactly the refs and commits of want, and fails after 10 s. The
// mount catches up with changes asynchronously, so there is no event to
// wait for but the listing itself.
func waitMountRefs(t *testing.T, mp string, want map[string]string, when string) {
	t.Helper()
	var got map[string]string
	mounted := func() bool {
		got = map[string]string{}
		root := filepath.Join(mp, "refs", "heads")
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type()&fs.ModeSymlink != 0 {
				target, _ := os.Readlink(p)
				rel, _ := filepath.Rel(root, p)
				got[filepath.ToSlash(rel)] = path.Base(target)
			}
			return nil
		})
		return maps.Equal(got, want)
	}
	for deadline := time.Now().Add(10 * time.Second); !mounted(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s the mount lists %d refs, the repository %d", when, len(got), len(want))
		}
	}
}

// TestRefsTreeModel: after random creations, moves and deletions, the
// tree holds exactly the refs of a plain map, each directory lists its
// entries sorted, and a directory exists exactly while a ref is below it
// (or it is a top one).
func TestRefsTreeModel(t *testing.T) {
	tr := newRefsTree()
	model := map[string]repo.Checksum{}
	comps := []string{"a", "b", "x86_64", "org.example.LongApplicationName"}
	for i := range 20000 {
		n := 2 + i*7%3
		p := []string{topDirs[i%3]}
		if p[0] != "heads" {
			p = append(p, "org.example.R")
		}
		for j := range n {
			p = append(p, comps[(i*31+j*17+i/7)%len(comps)])
		}
		name := strings.Join(p, "/")
		if i%3 == 0 {
			tr.remove(name)
			delete(model, name)
			continue
		}
		// A ref may not be where a directory is, nor below a ref.
		if tr.isDir(name) || slices.ContainsFunc(slices.Collect(maps.Keys(model)), func(r string) bool { return strings.HasPrefix(name, r+"/") }) {
			continue
		}
		c := repo.Checksum{byte(i), byte(i >> 8)}
		tr.set(name, c)
		model[name] = c
	}
	if tr.refs() != len(model) {
		t.Errorf("tree holds %d refs, model %d", tr.refs(), len(model))
	}
	got := map[string]repo.Checksum{}
	var walk func(dir string, e *refEntry)
	walk = func(dir string, e *refEntry) {
		if !slices.IsSortedFunc(e.kids(), func(a, b refEntry) int { return strings.Compare(a.name(), b.name()) }) {
			t.Errorf("refs/%s is not sorted", dir)
		}
		if e.nkids == 0 && strings.Contains(dir, "/") {
			t.Errorf("empty directory refs/%s kept", dir)
		}
		for i := range e.kids() {
			k := &e.kids()[i]
			p := join(dir, k.name())
			if k.isDir() {
				walk(p, k)
			} else {
				got[p] = tr.sums[k.sum-1]
			}
		}
	}
	walk("", &tr.root)
	if !maps.Equal(got, model) {
		t.Errorf("tree and model differ: %d and %d refs", len(got), len(model))
	}
	for p, c := range model {
		if g, ok := tr.ref(p); !ok || g != c {
			t.Errorf("ref(%s) = %v %v, want %v", p, g, ok, c)
		}
	}
}

// stub tells whether the mount has yet to read the directory p of refs/.
func (s *refsState) stub(p string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tree.isStub(p)
}

// TestRefsLazy: the mount reads a directory of refs/ only when the kernel
// asks what is in it, so a ref moved in a directory never read shows its
// value of the moment it is first looked up; a listing reads the listed
// directory, not those in it; a directory read is watched from then on.
func TestRefsLazy(t *testing.T) {
	repoPath := filepath.Join(t.TempDir(), "repo")
	r := testrepo.Init(t, repoPath, "archive")
	src := t.TempDir()
	var commits []repo.Checksum
	for i := range 2 {
		repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte(fmt.Sprint(i))}})
		commits = append(commits, mustChecksum(t, testrepo.Commit(t, repoPath, "seed", src, repotest.CommitOpts{})))
	}
	ctx := t.Context()
	for i := range 3 {
		if err := r.SetRefImmediate(ctx, "", fmt.Sprintf("app/org.test.App%d/x86_64/stable", i), commits[0]); err != nil {
			t.Fatal(err)
		}
	}
	o := noPoll
	o.noReadAhead = true
	m, mp := testMountWith(t, repoPath, o)
	s := m.FS.refs
	if !s.stub("heads") {
		t.Fatal("refs/heads read before anything asked for it")
	}
	ents, err := os.ReadDir(filepath.Join(mp, "refs", "heads", "app"))
	if err != nil || len(ents) != 3 || !ents[0].IsDir() {
		t.Fatalf("refs/heads/app: %v %v", ents, err)
	}
	if s.stub("heads/app") || !s.stub("heads/app/org.test.App0") {
		t.Error("a listing did not read exactly the listed directory")
	}
	// Moved while its directory is unread: read fresh on lookup.
	if err := r.SetRefImmediate(ctx, "", "app/org.test.App1/x86_64/stable", commits[1]); err != nil {
		t.Fatal(err)
	}
	link1 := filepath.Join(mp, "refs/heads/app/org.test.App1/x86_64/stable")
	if !pointsTo(link1, commits[1].String())() {
		target, err := os.Readlink(link1)
		t.Fatalf("ref moved before its directory was read: %q %v", target, err)
	}
	// Read now, hence watched.
	if err := r.SetRefImmediate(ctx, "", "app/org.test.App1/x86_64/stable", commits[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ref moved in a directory read", pointsTo(link1, commits[0].String()))
	// A new application's directory shows in the listing that was read.
	if err := r.SetRefImmediate(ctx, "", "app/org.test.App9/x86_64/stable", commits[1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new ref in a new directory", pointsTo(filepath.Join(mp, "refs/heads/app/org.test.App9/x86_64/stable"), commits[1].String()))
	waitFor(t, "new directory listed", func() bool {
		ents, _ := os.ReadDir(filepath.Join(mp, "refs", "heads", "app"))
		return len(ents) == 4
	})
	// A whole directory removed, read or not, goes.
	for _, app := range []string{"org.test.App1", "org.test.App2"} {
		if err := os.RemoveAll(filepath.Join(repoPath, "refs", "heads", "app", app)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "removed directory "+app, absent(filepath.Join(mp, "refs/heads/app", app)))
	}
}

// TestRefsReadAhead: listing a directory of refs/ has the mount read the
// directories below it, two levels deep, before anything looks them up,
// and nothing deeper; what it read is what a lookup would have read.
func TestRefsReadAhead(t *testing.T) {
	repoPath := filepath.Join(t.TempDir(), "repo")
	r := testrepo.Init(t, repoPath, "archive")
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("v")}})
	c := mustChecksum(t, testrepo.Commit(t, repoPath, "seed", src, repotest.CommitOpts{}))
	ctx := t.Context()
	refs := []string{"app/org.test.App0/x86_64/stable", "app/org.test.App1/aarch64/beta", "app/org.test.App2/x86_64/deep/er/ref"}
	for _, ref := range refs {
		if err := r.SetRefImmediate(ctx, "", ref, c); err != nil {
			t.Fatal(err)
		}
	}
	o := noPoll
	o.noFill = true
	m, mp := testMountWith(t, repoPath, o)
	s := m.FS.refs
	if _, err := os.ReadDir(filepath.Join(mp, "refs", "heads", "app")); err != nil {
		t.Fatal(err)
	}
	below := []string{"heads/app/org.test.App0", "heads/app/org.test.App0/x86_64", "heads/app/org.test.App1",
		"heads/app/org.test.App1/aarch64", "heads/app/org.test.App2", "heads/app/org.test.App2/x86_64"}
	waitFor(t, "directories below a listing read", func() bool {
		for _, d := range below {
			if s.stub(d) {
				return false
			}
		}
		return true
	})
	if !s.stub("heads/app/org.test.App2/x86_64/deep") {
		t.Error("read ahead deeper than two levels below the listing")
	}
	s.mu.RLock()
	got, ok := s.tree.ref("heads/app/org.test.App1/aarch64/beta")
	s.mu.RUnlock()
	if !ok || got != c {
		t.Errorf("ref read ahead: %v %v, want %v", got, ok, c)
	}
	for _, ref := range refs {
		if link := filepath.Join(mp, "refs", "heads", ref); !pointsTo(link, c.String())() {
			t.Errorf("%s does not point to %s", link, c)
		}
	}
}

// TestRefsAlias: an alias ref, a symlink under refs/heads as `ostree refs
// --alias` writes it, shows as a ref on its target's commit, and follows
// the target when it moves, though nothing looked at the target's
// directory.
func TestRefsAlias(t *testing.T) {
	repotest.RequireOstree(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	commits := twoCommits(t, repoPath, "app/org.test.App/x86_64/stable")
	_, mp := testMountWith(t, repoPath, noPoll)
	alias := filepath.Join(mp, "refs", "heads", "os", "alias")
	repotest.Ostree(t, "--repo="+repoPath, "refs", "--alias", "--create=os/alias", "app/org.test.App/x86_64/stable")
	if st, err := os.Lstat(filepath.Join(repoPath, "refs", "heads", "os", "alias")); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("ostree refs --alias wrote no symlink: %v %v", st, err)
	}
	waitFor(t, "alias", pointsTo(alias, commits[1]))
	if target, _ := os.Readlink(alias); target != "../../../commits/"+commits[1] {
		t.Errorf("alias reads %q", target)
	}
	repotest.Ostree(t, "--repo="+repoPath, "reset", "app/org.test.App/x86_64/stable", commits[0])
	waitFor(t, "alias of a moved ref", pointsTo(alias, commits[0]))
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "v", Kind: repotest.File, Data: []byte("2")}})
	third := repotest.Commit(t, repoPath, "app/org.test.App/x86_64/stable", src, repotest.CommitOpts{})
	waitFor(t, "alias of a ref committed to", pointsTo(alias, third))
	if b, err := os.ReadFile(filepath.Join(alias, "v")); err != nil || string(b) != "2" {
		t.Errorf("through the alias: %q %v", b, err)
	}
	repotest.Ostree(t, "--repo="+repoPath, "refs", "--delete", "os/alias")
	waitFor(t, "deleted alias", absent(alias))
}

// TestRefsFillBurst: refs/ read in the background as the mount starts to
// serve, while a burst of changes creates refs in new and in unread
// directories, moves refs and removes whole directories, ends with the
// mount's refs/heads equal to the repository's, and with every directory
// that was there at the start read.
func TestRefsFillBurst(t *testing.T) {
	repoPath := filepath.Join(t.TempDir(), "repo")
	commits := twoCommits(t, repoPath, "seed")
	heads := filepath.Join(repoPath, "refs", "heads")
	write := func(name, c string) {
		p := filepath.Join(heads, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := repo.WriteFileAtomic(p, []byte(c+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const apps = 3000
	app := func(i int) string { return fmt.Sprintf("app/org.test.App%d", i) }
	for i := range apps {
		write(app(i)+"/x86_64/stable", commits[0])
	}
	m, mp := testMountWith(t, repoPath, noPoll)
	s := m.FS.refs
	// From the last directory back: most changes land where the fill
	// has not been yet.
	for i := apps - 1; i >= 0; i -= 3 {
		switch i % 4 {
		case 0:
			write(app(i)+"/x86_64/stable", commits[1])
		case 1:
			if err := os.RemoveAll(filepath.Join(heads, filepath.FromSlash(app(i)))); err != nil {
				t.Fatal(err)
			}
		case 2:
			write(app(i)+"/aarch64/beta", commits[1])
		default:
			write(fmt.Sprintf("app/org.test.New%d/x86_64/stable", i), commits[i%2])
		}
	}
	<-s.filled
	s.mu.RLock()
	for i := range apps {
		if d := "heads/" + app(i); s.tree.find(d) != nil && s.tree.isStub(d) {
			t.Errorf("refs/%s not read by the fill", d)
		}
	}
	s.mu.RUnlock()
	want := map[string]string{}
	filepath.WalkDir(heads, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(heads, p)
			want[filepath.ToSlash(rel)] = strings.TrimSpace(string(b))
		}
		return nil
	})
	waitMountRefs(t, mp, want, "after the fill and the burst")
}
