package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repofs/repofs/repo/gvariant"
	"github.com/repofs/repofs/tmpdir"
)

var allModes = []Mode{ModeArchive, ModeBare, ModeBareUser, ModeBareUserOnly}

// writeTestTree makes a small tree with the shapes commits must handle.
func writeTestTree(t testing.TB, dir string, variant int) {
	t.Helper()
	files := map[string]string{
		"hello.txt":                 "hello\n",
		"empty":                     "",
		"sub/run.sh":                "#!/bin/sh\necho hi\n",
		"sub/deeper/data.bin":       strings.Repeat("\x00\x01\x02binary", 5000),
		"with space/é.txt":          "unicode\n",
		fmt.Sprintf("v%d", variant): fmt.Sprintf("variant %d\n", variant),
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, "sub/run.sh"), 0o755)
	os.Symlink("hello.txt", filepath.Join(dir, "link"))
	os.Symlink("/etc/passwd", filepath.Join(dir, "sub/abs"))
	os.MkdirAll(filepath.Join(dir, "emptydir"), 0o755)
}

func initRepo(t testing.TB, mode Mode) *Repo {
	t.Helper()
	r, err := Init(filepath.Join(t.TempDir(), "repo"), mode)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func commitDir(t testing.TB, r *Repo, branch, dir string) Checksum {
	t.Helper()
	ctx := context.Background()
	tx, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	tree, meta, err := tx.WriteDirectory(ctx, dir, DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var parent *Checksum
	if p, err := r.ReadRef("", branch); err == nil {
		parent = &p
	}
	c, err := tx.WriteCommit(CommitOptions{Subject: "test", Timestamp: time.Unix(1704067200, 0), Parent: parent}, tree, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.SetRef("", branch, c); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// treeListing walks a commit and renders every entry with its content, so
// two trees can be compared.
func treeListing(t testing.TB, r *Repo, c Checksum) []string {
	t.Helper()
	commit, err := r.ReadCommit(c)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(n Node)
	walk = func(n Node) {
		tr, err := r.ReadDir(n)
		if err != nil {
			t.Fatal(err)
		}
		files, dirs := Children(n, tr)
		for _, f := range files {
			fi, rc, err := r.OpenFile(f.Content)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
			out = append(out, fmt.Sprintf("%s %o %q %q", f.Path, fi.Mode, fi.Target, b))
		}
		for _, d := range dirs {
			out = append(out, d.Path+"/")
			walk(d)
		}
	}
	walk(RootNode(commit))
	return out
}

func TestCommitReadBack(t *testing.T) {
	src := t.TempDir()
	writeTestTree(t, src, 0)
	var roots []Checksum
	for _, m := range allModes {
		t.Run(m.String(), func(t *testing.T) {
			r := initRepo(t, m)
			c := commitDir(t, r, "test/main", src)
			got := treeListing(t, r, c)
			want := []string{
				`/empty 100644 "" ""`, `/hello.txt 100644 "" "hello\n"`, `/link 120777 "hello.txt" ""`, `/v0 100644 "" "variant 0\n"`,
				`/emptydir/`, `/sub/`, `/sub/abs 120777 "/etc/passwd" ""`, `/sub/run.sh 100755 "" "#!/bin/sh\necho hi\n"`,
				`/sub/deeper/`, fmt.Sprintf(`/sub/deeper/data.bin 100644 "" %q`, strings.Repeat("\x00\x01\x02binary", 5000)),
				`/with space/`, `/with space/é.txt 100644 "" "unicode\n"`,
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("read back:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			commit, _ := r.ReadCommit(c)
			roots = append(roots, commit.RootTree)
			rep, err := r.Fsck(context.Background(), FsckOptions{})
			if err != nil || len(rep.Problems) > 0 {
				t.Fatalf("fsck: %v %+v", err, rep)
			}
			assertNoTmpLeft(t, r)
		})
	}
	// The same tree has the same identity in every mode that keeps owners
	// (bare-user-only drops xattrs, and there are none here).
	for i := range roots {
		if roots[i] != roots[0] {
			t.Errorf("root dirtree differs between modes: %v", roots)
		}
	}
}

// assertNoTmpLeft checks that no staging directory or lock file is left.
func assertNoTmpLeft(t testing.TB, r *Repo) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(r.Path(), "tmp"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "staging-") {
			t.Errorf("left behind: tmp/%s", e.Name())
		}
	}
}

func TestAbortedStagingIsReusedAndReverified(t *testing.T) {
	for _, m := range allModes {
		t.Run(m.String(), func(t *testing.T) {
			r := initRepo(t, m)
			src := t.TempDir()
			writeTestTree(t, src, 1)
			ctx := context.Background()
			tx, err := r.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := tx.WriteDirectory(ctx, src, DirOptions{}); err != nil {
				t.Fatal(err)
			}
			staging := tx.staging.Path
			tx.Abort()
			// Nothing was published.
			if objs, _ := r.listObjects(ObjDirTree); len(objs) != 0 {
				t.Fatalf("aborted transaction published %d dirtrees", len(objs))
			}
			// Corrupt one staged content object and one staged dirtree.
			var corrupted []string
			filepath.WalkDir(staging, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || len(corrupted) == 2 {
					return err
				}
				isFile := strings.HasSuffix(p, ".file") || strings.HasSuffix(p, ".filez")
				if (isFile && len(corrupted) == 0 && d.Type().IsRegular()) || (strings.HasSuffix(p, ".dirtree") && len(corrupted) == 1) {
					b, _ := os.ReadFile(p)
					if len(b) > 0 {
						b[len(b)-1] ^= 0xff
						os.WriteFile(p, b, 0o644)
						corrupted = append(corrupted, p)
					}
				}
				return nil
			})
			if len(corrupted) != 2 {
				t.Fatalf("found %d staged objects to corrupt", len(corrupted))
			}
			tx2, err := r.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !tx2.Reused() || tx2.staging.Path != staging {
				t.Fatalf("staging %s reused=%v, want reuse of %s", tx2.staging.Path, tx2.Reused(), staging)
			}
			for _, p := range corrupted {
				if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("corrupted staged object %s survived re-verification", p)
				}
				if c, typ := stagedName(t, p); mustHave(t, tx2, c, typ) {
					t.Errorf("HasObject(%s) after re-verification removed it", p)
				}
			}
			// What survived is staged as far as the transaction knows.
			kept := 0
			filepath.WalkDir(staging, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if c, typ := stagedName(t, p); !mustHave(t, tx2, c, typ) {
						t.Errorf("HasObject(%s) = false for a verified staged object", p)
					}
					kept++
				}
				return err
			})
			if kept == 0 {
				t.Error("nothing survived re-verification")
			}
			tx2.Abort()
			c := commitDir(t, r, "main", src)
			if rep, err := r.Fsck(ctx, FsckOptions{}); err != nil || len(rep.Problems) > 0 {
				t.Fatalf("fsck after reuse: %v %+v", err, rep)
			}
			if len(treeListing(t, r, c)) == 0 {
				t.Fatal("empty tree")
			}
			assertNoTmpLeft(t, r)
		})
	}
}

// stagedName parses a staged object's path, XX/REST.EXT.
func stagedName(t *testing.T, p string) (Checksum, ObjectType) {
	t.Helper()
	base, ext, _ := strings.Cut(filepath.Base(p), ".")
	c, err := ParseChecksum(filepath.Base(filepath.Dir(p)) + base)
	if err != nil {
		t.Fatalf("staged %s: %v", p, err)
	}
	for _, typ := range []ObjectType{ObjFile, ObjDirTree, ObjDirMeta, ObjCommit} {
		if typ.Ext() == ext || typ == ObjFile && ext == "filez" {
			return c, typ
		}
	}
	t.Fatalf("staged %s: unknown type", p)
	return c, 0
}

func mustHave(t *testing.T, tx *Transaction, c Checksum, typ ObjectType) bool {
	t.Helper()
	ok, err := tx.HasObject(c, typ)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestConcurrentTransactions(t *testing.T) {
	r := initRepo(t, ModeArchive)
	srcs := make([]string, 4)
	for i := range srcs {
		srcs[i] = t.TempDir()
		writeTestTree(t, srcs[i], i%2) // overlapping content
	}
	var wg sync.WaitGroup
	commits := make([]Checksum, 4)
	for i := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				commits[i] = commitDir(t, r, fmt.Sprintf("b%d", i), srcs[i])
			}
		}()
	}
	wg.Wait()
	for i, c := range commits {
		got, err := r.ReadRef("", fmt.Sprintf("b%d", i))
		if err != nil || got != c {
			t.Errorf("ref b%d = %v, %v; want %v", i, got, err, c)
		}
	}
	rep, err := r.Fsck(context.Background(), FsckOptions{})
	if err != nil || len(rep.Problems) > 0 || rep.Commits != 4*5 && rep.Commits == 0 {
		t.Fatalf("fsck: %v %+v", err, rep)
	}
	assertNoTmpLeft(t, r)
}

// TestMain lets the test binary act as a separate committing process for
// the multi-process and crash tests.
func TestMain(m *testing.M) {
	if os.Getenv("REPOFS_TEST_CHILD") == "commit" {
		os.Exit(childCommit())
	}
	os.Exit(m.Run())
}

// childCommit commits REPOFS_TEST_SRC to REPOFS_TEST_BRANCH in
// REPOFS_TEST_REPO, REPOFS_TEST_N times, from 4 goroutines.
func childCommit() int {
	r, err := Open(os.Getenv("REPOFS_TEST_REPO"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	n := 1
	fmt.Sscan(os.Getenv("REPOFS_TEST_N"), &n)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if err := commitOnce(r, os.Getenv("REPOFS_TEST_SRC"), fmt.Sprintf("%s-%d", os.Getenv("REPOFS_TEST_BRANCH"), g)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func commitOnce(r *Repo, src, branch string) error {
	ctx := context.Background()
	tx, err := r.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Abort()
	tree, meta, err := tx.WriteDirectory(ctx, src, DirOptions{})
	if err != nil {
		return err
	}
	var parent *Checksum
	if p, err := r.ReadRef("", branch); err == nil {
		parent = &p
	}
	c, err := tx.WriteCommit(CommitOptions{Subject: branch, Parent: parent}, tree, meta)
	if err != nil {
		return err
	}
	if err := tx.SetRef("", branch, c); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func childCmd(t *testing.T, r *Repo, src, branch string, n int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "REPOFS_TEST_CHILD=commit", "REPOFS_TEST_REPO="+r.Path(),
		"REPOFS_TEST_SRC="+src, "REPOFS_TEST_BRANCH="+branch, fmt.Sprintf("REPOFS_TEST_N=%d", n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t.Cleanup(func() {
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("child %s stderr: %s", branch, stderr.String())
		}
	})
	return cmd
}

func TestMultiProcessCommits(t *testing.T) {
	r := initRepo(t, ModeBareUser)
	var cmds []*exec.Cmd
	for p := 0; p < 4; p++ {
		src := t.TempDir()
		writeTestTree(t, src, p%2)
		cmd := childCmd(t, r, src, fmt.Sprintf("p%d", p), 3)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	refs, err := r.ListRefs("", false)
	if err != nil || len(refs) != 16 {
		t.Fatalf("refs = %d (%v), want 16", len(refs), err)
	}
	rep, err := r.Fsck(context.Background(), FsckOptions{})
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("fsck: %v %+v", err, rep.Problems)
	}
	assertNoTmpLeft(t, r)
	locks, _ := filepath.Glob(filepath.Join(r.Path(), "tmp", "*"+tmpdir.LockSuffix))
	if len(locks) > 0 {
		t.Errorf("lock files left: %v", locks)
	}
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test kills 20 processes")
	}
	r := initRepo(t, ModeArchive)
	src := t.TempDir()
	writeTestTree(t, src, 0)
	// Make the commit slow enough to be killed in the middle.
	for i := 0; i < 200; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d", i)), bytes.Repeat([]byte{byte(i)}, 20000+i), 0o644)
	}
	for round := 0; round < 20; round++ {
		cmd := childCmd(t, r, src, fmt.Sprintf("crash%d", round), 2)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+round*7) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		// Every ref points at a complete commit, and fsck is clean.
		refs, err := r.ListRefs("", false)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range refs {
			if ok, _ := r.HasObject(ref.Checksum, ObjCommit); !ok {
				t.Fatalf("round %d: ref %s points at a missing commit", round, ref)
			}
		}
		rep, err := r.Fsck(context.Background(), FsckOptions{})
		if err != nil || len(rep.Problems) > 0 {
			t.Fatalf("round %d: fsck: %v %+v", round, err, rep.Problems)
		}
	}
	// The next commit reuses what the killed ones left.
	stagings, _ := filepath.Glob(filepath.Join(r.Path(), "tmp", string(tmpdir.Staging)+"-*"))
	sort.Strings(stagings)
	c := commitDir(t, r, "after", src)
	if len(treeListing(t, r, c)) == 0 {
		t.Fatal("empty tree")
	}
	t.Logf("%d staging dirs were left by killed processes", len(stagings))
}

// TestStaleStagedCommitMeta: detached metadata is replaced on publish, so
// a copy left staged by an interrupted transaction must not survive into
// the next one and overwrite what was published meanwhile.
func TestStaleStagedCommitMeta(t *testing.T) {
	r := initRepo(t, ModeBareUser)
	src := t.TempDir()
	writeTestTree(t, src, 0)
	c := commitDir(t, r, "main", src)
	ctx := context.Background()
	meta := func(v string) gvariant.Metadata {
		return gvariant.Metadata{{Key: "test", Value: gvariant.StringVariant(v)}}
	}
	stale, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stale.WriteCommitMeta(c, meta("stale")); err != nil {
		t.Fatal(err)
	}
	stale.Abort()
	tx, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !tx.Reused() {
		t.Fatal("the staging directory was not reused")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadMetadata(c, ObjCommitMeta); !errors.Is(err, ErrNotFound) {
		t.Errorf("a stale staged .commitmeta was published: %v", err)
	}
}

// TestTransactionHasObject: a transaction finds objects in objects/ (by
// its descriptor of the directory), those it staged itself, and neither
// an object that is nowhere nor one of another type; a lookup that fails
// otherwise than with ENOENT is an error, not a missing object.
func TestTransactionHasObject(t *testing.T) {
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			r := initRepo(t, mode)
			content := func(tx *Transaction, s string) Checksum {
				t.Helper()
				fi := &FileInfo{Mode: 0o100644, Size: uint64(len(s))}
				c, err := tx.WriteContent(fi, strings.NewReader(s), nil)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			tx, err := r.Begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			published := content(tx, "published\n")
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			tx, err = r.Begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Abort()
			staged := content(tx, "staged\n")
			absent := Checksum{0xab}
			for _, c := range []struct {
				name string
				c    Checksum
				t    ObjectType
				want bool
			}{
				{"published", published, ObjFile, true},
				{"staged", staged, ObjFile, true},
				{"absent", absent, ObjFile, false},
				{"other type", published, ObjDirTree, false},
			} {
				if got := mustHave(t, tx, c.c, c.t); got != c.want {
					t.Errorf("%s: HasObject = %v, want %v", c.name, got, c.want)
				}
			}
			// objects/cd a file, looked at for the first time: the lookup
			// fails with ENOTDIR.
			if err := os.WriteFile(filepath.Join(r.Path(), "objects", "cd"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if ok, err := tx.HasObject(Checksum{0xcd}, ObjFile); ok || err == nil || !strings.Contains(err.Error(), "objects/cd/") {
				t.Errorf("HasObject with objects/cd a file: %v, %v; want an error naming the path", ok, err)
			}
		})
	}
}

// TestTransactionAbsentObjectsDir: where objects/XX was missing when a
// transaction first looked, its objects are missing to it without a stat
// each, and what it stages there is still found. When another transaction
// publishes one of them meanwhile, this one stages it again, and both
// commit: the first published copy stays, and the objects are all there.
func TestTransactionAbsentObjectsDir(t *testing.T) {
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			r := initRepo(t, mode)
			ctx := context.Background()
			fi := func(s string) *FileInfo { return &FileInfo{Mode: 0o100644, Size: uint64(len(s))} }
			// Two payloads whose objects share their first byte.
			var a, b string
			var ca, cb Checksum
			for i := 0; cb == (Checksum{}); i++ {
				s := fmt.Sprintf("payload %d\n", i)
				c := contentChecksum(t, fi(s), s)
				switch {
				case a == "":
					a, ca = s, c
				case c[0] == ca[0]:
					b, cb = s, c
				}
			}
			tx1, err := r.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx1.Abort()
			if mustHave(t, tx1, ca, ObjFile) || mustHave(t, tx1, cb, ObjFile) {
				t.Fatal("a new repository has the objects")
			}
			if tx1.xx[ca[0]].Load() != xxAbsent {
				t.Fatalf("objects/%02x not taken as absent", ca[0])
			}
			// Another transaction publishes a meanwhile.
			tx2, err := r.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx2.WriteContent(fi(a), strings.NewReader(a), &ca); err != nil {
				t.Fatal(err)
			}
			if err := tx2.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if mustHave(t, tx1, ca, ObjFile) {
				t.Error("the lookup of an absent objects/XX was not answered from memory")
			}
			for _, p := range []struct {
				s string
				c Checksum
			}{{a, ca}, {b, cb}} {
				if _, err := tx1.WriteContent(fi(p.s), strings.NewReader(p.s), &p.c); err != nil {
					t.Fatal(err)
				}
				if !mustHave(t, tx1, p.c, ObjFile) {
					t.Errorf("%s staged but not found", p.c)
				}
			}
			if err := tx1.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			for _, p := range []struct {
				s string
				c Checksum
			}{{a, ca}, {b, cb}} {
				if got := readContent(t, r, p.c); got != p.s {
					t.Errorf("%s: %q, want %q", p.c, got, p.s)
				}
			}
		})
	}
}

// contentChecksum is the checksum of the content object fi with payload s.
func contentChecksum(t *testing.T, fi *FileInfo, s string) Checksum {
	t.Helper()
	h := sha256.New()
	h.Write(contentStreamPrefix(fi))
	h.Write([]byte(s))
	return Checksum(h.Sum(nil))
}

// readContent reads the published content object c whole.
func readContent(t *testing.T, r *Repo, c Checksum) string {
	t.Helper()
	_, rc, err := r.OpenFile(c)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
