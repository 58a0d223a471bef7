package integration

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// lsEntry is one line of `ostree ls -R -C`.
type lsEntry struct {
	kind   byte // 'd', '-' or 'l'
	size   int64
	csum   string // content object, or dirtree for a directory
	meta   string // dirmeta, directories only
	path   string
	target string // symlinks only
}

var lsLine = regexp.MustCompile(`^([dl-])\d{5} \d+ \d+ +(\d+) ([0-9a-f]{64}) (?:([0-9a-f]{64}) )?(/.*)$`)

func parseLs(t *testing.T, out string) []lsEntry {
	t.Helper()
	var es []lsEntry
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		m := lsLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unexpected ostree ls -C line %q", line)
		}
		size, _ := strconv.ParseInt(m[2], 10, 64)
		e := lsEntry{kind: m[1][0], size: size, csum: m[3], meta: m[4], path: m[5]}
		if e.kind == 'l' {
			e.path, e.target, _ = strings.Cut(e.path, " -> ")
		}
		es = append(es, e)
	}
	return es
}

// object names one object of a repository.
type object struct {
	csum string
	typ  string // commit, dirtree, dirmeta or file
}

// path is where the object lives in a repository of the given mode.
func (o object) path(repoPath, mode string) string {
	ext := o.typ
	if o.typ == "file" && mode == "archive" {
		ext = "filez"
	}
	return filepath.Join(repoPath, "objects", o.csum[:2], o.csum[2:]+"."+ext)
}

// pristine is what a fixture holds before it is corrupted, as ostree sees it.
type pristine struct {
	fx      *repotest.Fixture
	main    string            // the commit fx.Main resolves to
	parent  string            // its parent, "" if none
	commits []string          // every commit object present, sorted
	trees   map[string]string // commit -> `ostree ls -R -C` of it
	partial map[string]bool   // commits already partial
	mainLs  string            // `ostree ls -R fx.Main`
	file    lsEntry           // a regular file with payload, in a subdirectory if there is one
	dir     lsEntry           // the directory holding file
	link    lsEntry           // a symlink, if any
}

func inspect(t *testing.T, fx *repotest.Fixture) *pristine {
	t.Helper()
	rf := "--repo=" + fx.Repo
	p := &pristine{fx: fx, trees: map[string]string{}, partial: map[string]bool{}}
	p.main = strings.TrimSpace(repotest.Ostree(t, rf, "rev-parse", fx.Main))
	if out, _, code := ostreeCmd(t, rf, "rev-parse", fx.Main+"^"); code == 0 {
		p.parent = strings.TrimSpace(out)
	}
	matches, err := filepath.Glob(filepath.Join(fx.Repo, "objects", "*", "*.commit"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range matches {
		c := filepath.Base(filepath.Dir(m)) + strings.TrimSuffix(filepath.Base(m), ".commit")
		p.commits = append(p.commits, c)
		if _, err := os.Stat(filepath.Join(fx.Repo, "state", c+".commitpartial")); err == nil {
			p.partial[c] = true
			continue
		}
		p.trees[c] = repotest.Ostree(t, rf, "ls", "-R", "-C", c)
	}
	slices.Sort(p.commits)
	p.mainLs = repotest.Ostree(t, rf, "ls", "-R", fx.Main)

	dirs := map[string]lsEntry{}
	var top, deep lsEntry // the first files with a payload at / and below
	for _, e := range parseLs(t, p.trees[p.main]) {
		switch {
		case e.kind == 'd':
			dirs[e.path] = e
		case e.kind == 'l' && p.link.path == "":
			p.link = e
		case e.kind == '-' && e.size > 0 && filepath.Dir(e.path) == "/" && top.path == "":
			top = e
		case e.kind == '-' && e.size > 0 && filepath.Dir(e.path) != "/" && deep.path == "":
			deep = e
		}
	}
	p.file = cmp.Or(deep, top)
	if p.file.path == "" {
		t.Fatalf("fixture %s has no regular file with a payload", fx.Repo)
	}
	p.dir = dirs[filepath.Dir(p.file.path)]
	return p
}

// reachers are the complete commits whose trees hold the object: the ones
// fsck must name and fsck --delete must mark partial.
func (p *pristine) reachers(o object) []string {
	if o.typ == "commit" {
		return []string{o.csum}
	}
	var cs []string
	for _, c := range p.commits {
		if tree, ok := p.trees[c]; ok && strings.Contains(tree, o.csum) {
			cs = append(cs, c)
		}
	}
	return cs
}

// A corruption damages the object stored at a path.
type corruption struct {
	name string
	do   func(t *testing.T, path string)
}

var (
	flipByte = corruption{"flip", func(t *testing.T, p string) {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.Size() == 0 {
			t.Fatalf("flip a byte of %s: size %v, %v", p, st.Size(), err)
		}
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, st.Size()/2); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff
		if _, err := f.WriteAt(b, st.Size()/2); err != nil {
			t.Fatal(err)
		}
	}}
	truncateHalf = corruption{"truncate", func(t *testing.T, p string) {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, st.Size()/2); err != nil {
			t.Fatal(err)
		}
	}}
	// retarget points a bare-mode symlink object elsewhere, keeping its owner.
	retarget = corruption{"retarget", func(t *testing.T, p string) {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		old, err := os.Readlink(p)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(old+"-corrupted", p); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, int(sys.Uid), int(sys.Gid)); err != nil {
			t.Fatal(err)
		}
	}}
	metaFlip     = xattrCorruption("xattr-flip", func(v []byte) []byte { v[len(v)/2] ^= 0xff; return v })
	metaTruncate = xattrCorruption("xattr-truncate", func(v []byte) []byte { return v[:len(v)/2] })
	metaRemove   = xattrCorruption("xattr-remove", nil)
)

// xattrCorruption rewrites (or, with a nil edit, removes) the
// user.ostreemeta xattr of a bare-user content object.
func xattrCorruption(name string, edit func([]byte) []byte) corruption {
	return corruption{name, func(t *testing.T, p string) {
		const attr = "user.ostreemeta"
		if edit == nil {
			if err := syscall.Removexattr(p, attr); err != nil {
				t.Fatalf("removexattr %s: %v", p, err)
			}
			return
		}
		buf := make([]byte, 64<<10)
		n, err := syscall.Getxattr(p, attr, buf)
		if err != nil || n == 0 {
			t.Fatalf("getxattr %s: %d bytes, %v", p, n, err)
		}
		if err := syscall.Setxattr(p, attr, edit(buf[:n]), 0); err != nil {
			t.Fatalf("setxattr %s: %v", p, err)
		}
	}}
}

// corruptCase is one object damaged one way.
type corruptCase struct {
	name string
	obj  object
	how  corruption
	// ls is what `repofs ls -R MAIN` must do: "fail" (naming the object),
	// "ok" (print what ostree prints), or "" (either; content objects are
	// not read by ls).
	ls string
	// cat, when set, is a path whose `repofs cat MAIN PATH` reads the object
	// and so must fail naming it.
	cat string
	// refGone means fsck --delete removes the commit a ref points to: the
	// ref is then dangling and fsck keeps reporting it, as ostree does.
	refGone bool
}

func corruptCases(p *pristine, mode string) []corruptCase {
	var cs []corruptCase
	add := func(name string, o object, ls, cat string, refGone bool, hows ...corruption) {
		for _, h := range hows {
			cs = append(cs, corruptCase{name + "/" + h.name, o, h, ls, cat, refGone})
		}
	}
	add("commit", object{p.main, "commit"}, "fail", p.file.path, true, flipByte, truncateHalf)
	if p.parent != "" && !p.partial[p.parent] {
		add("parent-commit", object{p.parent, "commit"}, "ok", "", false, flipByte, truncateHalf)
	}
	add("dirtree", object{p.dir.csum, "dirtree"}, "fail", p.file.path, false, flipByte, truncateHalf)
	add("dirmeta", object{p.dir.meta, "dirmeta"}, "fail", "", false, flipByte, truncateHalf)
	file := object{p.file.csum, "file"}
	add("file", file, "", p.file.path, false, flipByte, truncateHalf)
	if mode == "bare-user" {
		add("file", file, "", p.file.path, false, metaFlip, metaTruncate, metaRemove)
	}
	if p.link.path != "" {
		link := object{p.link.csum, "file"}
		switch mode {
		case "bare", "bare-user-only": // a real symlink
			add("symlink", link, "", "", false, retarget)
		default: // a file holding the target
			add("symlink", link, "", "", false, flipByte, truncateHalf)
		}
	}
	return cs
}

// fsckProblem is one "error: In commits A, B: fsck OBJECT: why" line.
var fsckProblem = regexp.MustCompile(`(?m)^error: In commits ([0-9a-f, ]+): fsck (.*)$`)

func TestCorruptObjects(t *testing.T) {
	repotest.RequireOstree(t)
	t.Parallel()
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			p := inspect(t, repotest.NewFixture(t, mode, repotest.FixtureOpts{Wide: 200}))
			if p.link.path == "" {
				t.Errorf("the %s fixture has no symlink to corrupt", mode)
			}
			if !t.Run("pristine", func(t *testing.T) { testPristine(t, p) }) {
				return // corruption tests mean nothing on a repository repofs already rejects
			}
			for _, c := range corruptCases(p, mode) {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					testCorruption(t, p, mode, c)
				})
			}
		})
	}
}

// testPristine checks that repofs reads the untouched fixture as ostree does
// and finds nothing wrong with it.
func testPristine(t *testing.T, p *pristine) {
	rf := "--repo=" + p.fx.Repo
	if _, stderr, code := ostreeCmd(t, rf, "fsck"); code != 0 {
		t.Fatalf("ostree fsck of the fixture: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := repofs(t, rf, "fsck"); code != 0 {
		t.Fatalf("fsck of the fixture: exit %d\n%s", code, stderr)
	}
	for _, args := range [][]string{
		{"ls", "-R", "-C", "-X", p.fx.Main},
		{"cat", p.fx.Main, p.file.path},
		{"log", p.fx.Main},
	} {
		want := repotest.Ostree(t, append([]string{rf}, args...)...)
		got, stderr, code := repofs(t, append([]string{rf}, args...)...)
		if code != 0 || got != want {
			t.Errorf("%s: exit %d, stderr %q, output same as ostree's: %v", strings.Join(args, " "), code, stderr, got == want)
		}
	}
}

// copyRepo copies a repository with its owners, modes and xattrs.
func copyRepo(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s: %v\n%s", src, err, out)
	}
	return dst
}

func testCorruption(t *testing.T, p *pristine, mode string, c corruptCase) {
	repoPath := copyRepo(t, p.fx.Repo)
	rf := "--repo=" + repoPath
	objPath := c.obj.path(repoPath, mode)
	if _, err := os.Lstat(objPath); err != nil {
		t.Fatalf("object to corrupt: %v", err)
	}
	c.how.do(t, objPath)
	reachers := p.reachers(c.obj)

	if _, _, code := ostreeCmd(t, rf, "fsck"); code == 0 {
		t.Errorf("ostree fsck exits 0: the corruption went unnoticed by ostree too")
	}

	stdout, stderr, code := repofs(t, rf, "fsck")
	noPanic(t, stdout, stderr)
	if code != 3 {
		t.Errorf("fsck: exit %d, want 3\n%s", code, stderr)
	}
	checkProblems(t, stderr, c.obj.csum, reachers)

	stdout, stderr, code = repofs(t, rf, "ls", "-R", p.fx.Main)
	noPanic(t, stdout, stderr)
	switch {
	case c.ls == "fail" && (code != 1 || !strings.Contains(stderr, c.obj.csum)):
		t.Errorf("ls -R %s: exit %d, stderr %q; want 1 and an error naming %s", p.fx.Main, code, stderr, c.obj.csum)
	case c.ls == "ok" && (code != 0 || stdout != p.mainLs):
		t.Errorf("ls -R %s: exit %d, stderr %q; want 0 and ostree's listing (same: %v)", p.fx.Main, code, stderr, stdout == p.mainLs)
	case c.ls == "" && code != 0 && (code != 1 || !strings.Contains(stderr, c.obj.csum)):
		t.Errorf("ls -R %s: exit %d, stderr %q; want 0, or 1 and an error naming %s", p.fx.Main, code, stderr, c.obj.csum)
	}

	if c.cat != "" {
		stdout, stderr, code = repofs(t, rf, "cat", p.fx.Main, c.cat)
		noPanic(t, stdout, stderr)
		if code != 1 || !strings.Contains(stderr, c.obj.csum) {
			t.Errorf("cat %s %s: exit %d, stderr %q; want 1 and an error naming %s", p.fx.Main, c.cat, code, stderr, c.obj.csum)
		}
		if stdout != "" {
			t.Errorf("cat %s %s wrote %d bytes of a corrupted file, want none", p.fx.Main, c.cat, len(stdout))
		}
	}

	testRepair(t, p, repoPath, objPath, c, reachers)
}

// checkProblems wants exactly one problem reported by fsck: the object, in
// the commits that reach it.
func checkProblems(t *testing.T, stderr, csum string, reachers []string) {
	t.Helper()
	probs := fsckProblem.FindAllStringSubmatch(stderr, -1)
	if len(probs) != 1 {
		t.Errorf("fsck reports %d problems, want 1 (%s):\n%s", len(probs), csum, stderr)
		return
	}
	if !strings.HasPrefix(probs[0][2], csum) {
		t.Errorf("fsck names %q, want the corrupted object %s", probs[0][2], csum)
	}
	if got, want := probs[0][1], strings.Join(reachers, ", "); got != want {
		t.Errorf("fsck says the object is in commits %s, want %s", got, want)
	}
	if !strings.Contains(stderr, "error: fsck found 1 corrupted") {
		t.Errorf("fsck does not sum up one problem:\n%s", stderr)
	}
}

// testRepair runs fsck --delete and checks what it removed and marked, then
// that fsck is satisfied with what is left.
func testRepair(t *testing.T, p *pristine, repoPath, objPath string, c corruptCase, reachers []string) {
	t.Helper()
	rf := "--repo=" + repoPath
	stdout, stderr, code := repofs(t, rf, "fsck", "--delete")
	noPanic(t, stdout, stderr)
	if code != 3 {
		t.Errorf("fsck --delete: exit %d, want 3 (it found corruption)\n%s", code, stderr)
	}
	if _, err := os.Lstat(objPath); !os.IsNotExist(err) {
		t.Errorf("fsck --delete left the corrupted object in place (lstat: %v)", err)
	}
	if want := "Deleted corrupted object " + c.obj.csum + "."; !strings.Contains(stderr, want) {
		t.Errorf("fsck --delete does not say %q:\n%s", want, stderr)
	}
	wantPartial := map[string]bool{}
	for c := range p.partial {
		wantPartial[c] = true
	}
	for _, r := range reachers {
		if r != c.obj.csum {
			wantPartial[r] = true
		}
	}
	gotPartial := map[string]bool{}
	ents, _ := os.ReadDir(filepath.Join(repoPath, "state"))
	for _, e := range ents {
		if commit, ok := strings.CutSuffix(e.Name(), ".commitpartial"); ok {
			gotPartial[commit] = true
		}
	}
	if fmt.Sprint(gotPartial) != fmt.Sprint(wantPartial) {
		t.Errorf("partial commits after fsck --delete: %v, want %v", keys(gotPartial), keys(wantPartial))
	}

	stdout, stderr, code = repofs(t, rf, "fsck")
	noPanic(t, stdout, stderr)
	if c.refGone {
		// The ref still names the deleted commit; only that is reported.
		if code != 3 {
			t.Errorf("fsck after deleting the ref's commit: exit %d, want 3", code)
		}
		checkProblems(t, stderr, "ref ", reachers)
		if !strings.Contains(stderr, "missing commit") || !strings.Contains(stderr, c.obj.csum) {
			t.Errorf("fsck does not name the missing commit %s:\n%s", c.obj.csum, stderr)
		}
		return
	}
	if code != 0 || stderr != "" {
		t.Errorf("fsck after fsck --delete: exit %d, want 0\n%s", code, stderr)
	}
	if n := len(wantPartial); n > 0 && !strings.Contains(stdout, fmt.Sprintf("%d partial commits not verified", n)) {
		t.Errorf("fsck does not report %d partial commits:\n%s", n, stdout)
	}
}

func keys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestCatFollowsCorruptSymlink corrupts a symlink object so that it points
// at another file of the same commit. cat follows symlinks inside the commit;
// it must not follow an unverified target and print the wrong file.
func TestCatFollowsCorruptSymlink(t *testing.T) {
	repotest.RequireOstree(t)
	t.Parallel()
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			repoPath := filepath.Join(t.TempDir(), "repo")
			repotest.Init(t, repoPath, mode)
			tree := t.TempDir()
			repotest.WriteTree(t, tree, []repotest.Entry{
				{Path: "a", Kind: repotest.File, Data: []byte("the right file\n"), Mode: 0o644},
				{Path: "b", Kind: repotest.File, Data: []byte("the wrong file\n"), Mode: 0o644},
				{Path: "l", Kind: repotest.Symlink, Target: "a"},
			})
			repotest.Commit(t, repoPath, "main", tree, repotest.CommitOpts{Subject: "links"})
			rf := "--repo=" + repoPath
			link := parseLs(t, repotest.Ostree(t, rf, "ls", "-C", "main", "/l"))[0]
			obj := object{link.csum, "file"}
			retargetTo(t, obj.path(repoPath, mode), mode, "b")
			if out := repotest.Ostree(t, rf, "ls", "main", "/l"); !strings.HasSuffix(out, "/l -> b\n") {
				t.Fatalf("the corruption did not retarget the link: %q", out)
			}

			stdout, stderr, code := repofs(t, rf, "cat", "main", "/l")
			noPanic(t, stdout, stderr)
			if code != 1 || !strings.Contains(stderr, obj.csum) {
				t.Errorf("cat main /l: exit %d, stdout %q, stderr %q; want 1 and an error naming %s", code, stdout, stderr, obj.csum)
			}
			if _, stderr, code := repofs(t, rf, "fsck"); code != 3 || !strings.Contains(stderr, obj.csum) {
				t.Errorf("fsck: exit %d, stderr %q; want 3 naming %s", code, stderr, obj.csum)
			}
		})
	}
}

// retargetTo rewrites a one-letter symlink object to point at target.
func retargetTo(t *testing.T, p, mode, target string) {
	t.Helper()
	switch mode {
	case "bare", "bare-user-only":
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	default: // archive: in the .filez header; bare-user: the file's content
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(data, []byte("a\x00")) != 1 {
			t.Fatalf("cannot find the target in %s: %x", p, data)
		}
		i := bytes.Index(data, []byte("a\x00"))
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt([]byte(target), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
}
