package main

import (
	"bytes"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo/delta"
	"github.com/repofs/repofs/repo/gvariant"
)

// deltaFixture is an archive repository made by ostree with commits T, T'
// (ds.From, ds.To) and T2 on "main", and ostree-made deltas: scratch to
// each, T→T', T→T2 and T'→T2 (three deltas to T2, so its index and the
// summary's map hold several entries). It has no summary.
type deltaFixture struct {
	repo         string
	from, to, t2 string
}

func newDeltaFixture(t *testing.T) *deltaFixture {
	t.Helper()
	ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 12, Big: 32 << 10, NoScratch: true, NoFrom: true})
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{
		{Path: "only/file", Kind: repotest.File, Data: []byte("T2\n")},
		{Path: "big.bin", Kind: repotest.File, Size: 20 << 10},
	})
	f := &deltaFixture{repo: ds.Repo, from: ds.From, to: ds.To}
	f.t2 = repotest.Commit(t, f.repo, "main", src, repotest.CommitOpts{Subject: "T2", Timestamp: "2024-03-01T00:00:00Z"})
	for _, args := range [][]string{
		{"--empty", "--to=" + f.from}, {"--empty", "--to=" + f.to}, {"--from=" + f.from, "--to=" + f.to},
		{"--empty", "--to=" + f.t2}, {"--from=" + f.from, "--to=" + f.t2}, {"--from=" + f.to, "--to=" + f.t2},
	} {
		repotest.Ostree(t, append([]string{"--repo=" + f.repo, "static-delta", "generate"}, args...)...)
	}
	if err := os.Remove(filepath.Join(f.repo, "summary")); err != nil {
		t.Fatal(err)
	}
	return f
}

// deltaState is what summary -u and static-delta reindex write.
type deltaState struct {
	summary, config []byte
	indexes         map[string][]byte // by path under delta-indexes/
}

func readDeltaState(t *testing.T, repoPath string) deltaState {
	t.Helper()
	s := deltaState{indexes: map[string][]byte{}}
	s.summary, _ = os.ReadFile(filepath.Join(repoPath, "summary"))
	s.config = repotest.ReadFile(t, filepath.Join(repoPath, "config"))
	top := filepath.Join(repoPath, "delta-indexes")
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(top, p)
		s.indexes[rel] = repotest.ReadFile(t, p)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return s
}

// resetDeltaState puts back the config and removes summary and
// delta-indexes/, then adds the given index files.
func resetDeltaState(t *testing.T, repoPath string, config []byte, indexes map[string][]byte) {
	t.Helper()
	for _, p := range []string{"summary", "summary.sig", "delta-indexes"} {
		if err := os.RemoveAll(filepath.Join(repoPath, p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(repoPath, "config"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	for rel, data := range indexes {
		p := filepath.Join(repoPath, "delta-indexes", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// lastModified finds the summary's ostree.summary.last-modified value (a
// big-endian t followed by its type) among the times in [lo, hi] and
// returns its offset.
func lastModified(summary []byte, lo, hi time.Time) int {
	for ts := lo.Unix() - 1; ts <= hi.Unix()+1; ts++ {
		pat := binary.BigEndian.AppendUint64(nil, uint64(ts))
		pat = append(pat, 0, 't')
		if i := bytes.Index(summary, pat); i >= 0 {
			return i
		}
	}
	return -1
}

// sameIndex reports whether the delta index repofs wrote is ostree's:
// the same bytes, or, when the deltas' names collide in GLib's hash table
// (so that ostree's order depends on the order it inserted them, which it
// sorts by comparing pointers: see repo/delta/doc.go), the same entries.
func sameIndex(t *testing.T, got, want []byte) bool {
	t.Helper()
	if bytes.Equal(got, want) {
		return true
	}
	deltas := func(b []byte) gvariant.Metadata {
		m, err := gvariant.DecodeMetadata(b)
		if err != nil {
			return nil
		}
		v, ok := m.Lookup("ostree.static-deltas")
		if !ok || len(m) != 1 {
			return nil
		}
		d, err := gvariant.DecodeMetadata(v.Data)
		if err != nil {
			return nil
		}
		return d
	}
	g, w := deltas(got), deltas(want)
	if g == nil || w == nil || len(g) != len(w) {
		return false
	}
	// Does the order depend on the insertion order? Try the rotations,
	// forwards and backwards.
	dependent := false
	for i := range w {
		rot := append(slices.Clone(w[i:]), w[:i]...)
		rev := slices.Clone(rot)
		slices.Reverse(rev)
		for _, p := range []gvariant.Metadata{rot, rev} {
			if !slices.EqualFunc(gvariant.DictOrder(p), gvariant.DictOrder(w), sameEntry) {
				dependent = true
			}
		}
	}
	if !dependent {
		return false // no collision: the bytes had to be equal
	}
	t.Logf("index entries %d collide in GLib's hash table: comparing them as a set", len(w))
	for _, e := range w {
		if !slices.ContainsFunc(g, func(x gvariant.Entry) bool { return sameEntry(x, e) }) {
			return false
		}
	}
	return true
}

func sameEntry(a, b gvariant.Entry) bool {
	return a.Key == b.Key && a.Value.Type == b.Value.Type && bytes.Equal(a.Value.Data, b.Value.Data)
}

// TestInteropDeltaIndexes: on the same repository (so directory order is
// the same), ostree's and repofs's `summary -u` and `static-delta reindex
// [--to]` write byte-identical summaries (the last-modified time aside),
// delta-indexes/ and config, from no indexes and from stale ones; and
// `static-delta indexes` and reindex's errors print the same.
func TestInteropDeltaIndexes(t *testing.T) {
	repotest.RequireOstree(t)
	f := newDeltaFixture(t)
	config := repotest.ReadFile(t, filepath.Join(f.repo, "config"))
	noDeltas := append(bytes.Clone(config), "no-deltas-in-summary=true\n"...)
	// A stale index of a commit no delta leads to, and one of T2's with
	// wrong contents.
	staleIdx := map[string][]byte{
		"qq/" + strings.Repeat("A", 41) + ".index": []byte("stale"),
	}
	t2Idx := func() map[string][]byte {
		resetDeltaState(t, f.repo, config, nil)
		repotest.Ostree(t, "--repo="+f.repo, "static-delta", "reindex", "--to="+f.t2)
		s := readDeltaState(t, f.repo)
		for k := range s.indexes {
			s.indexes[k] = []byte("old")
		}
		return s.indexes
	}()
	for k, v := range t2Idx {
		staleIdx[k] = v
	}
	cases := []struct {
		name    string
		config  []byte
		indexes map[string][]byte
		args    []string
	}{
		{"summary", config, nil, []string{"summary", "-u"}},
		{"summary no-deltas-in-summary", noDeltas, nil, []string{"summary", "-u"}},
		{"summary stale indexes", config, staleIdx, []string{"summary", "-u"}},
		{"reindex", config, nil, []string{"static-delta", "reindex"}},
		{"reindex stale", config, staleIdx, []string{"static-delta", "reindex"}},
		{"reindex to", config, nil, []string{"static-delta", "reindex", "--to=" + f.t2}},
		{"reindex to stale", config, staleIdx, []string{"static-delta", "reindex", "--to=" + f.t2}},
		{"reindex to no delta", config, staleIdx, []string{"static-delta", "reindex", "--to=" + strings.Repeat("ab", 32)}},
		{"reindex bad to", config, nil, []string{"static-delta", "reindex", "--to=main"}},
		{"reindex indexed already", append(bytes.Clone(config), "indexed-deltas=true\n"...), nil, []string{"static-delta", "reindex"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--repo=" + f.repo}, c.args...)
			resetDeltaState(t, f.repo, c.config, c.indexes)
			start := time.Now()
			want, wantErr, wantCode := repotest.RunOstree(t, args...)
			end := time.Now()
			ws := readDeltaState(t, f.repo)
			resetDeltaState(t, f.repo, c.config, c.indexes)
			got, gotErr, gotCode := repofs(t, args...)
			end2 := time.Now()
			gs := readDeltaState(t, f.repo)
			if got != want || gotCode != wantCode || errorLine(gotErr) != errorLine(wantErr) {
				t.Errorf("repofs: %q exit %d %q; ostree: %q exit %d %q", got, gotCode, errorLine(gotErr), want, wantCode, errorLine(wantErr))
			}
			if ws.summary != nil {
				wi, gi := lastModified(ws.summary, start, end), lastModified(gs.summary, end, end2)
				if wi < 0 || gi < 0 {
					t.Fatalf("last-modified not found: ostree's at %d, repofs's at %d", wi, gi)
				}
				copy(gs.summary[gi:gi+8], ws.summary[wi:wi+8])
			}
			if !bytes.Equal(gs.summary, ws.summary) {
				t.Errorf("summary differs from ostree's:\n%x\nostree's:\n%x", gs.summary, ws.summary)
			}
			if !bytes.Equal(gs.config, ws.config) {
				t.Errorf("config differs from ostree's:\n%s\nostree's:\n%s", gs.config, ws.config)
			}
			for k, v := range ws.indexes {
				if !sameIndex(t, gs.indexes[k], v) {
					t.Errorf("delta-indexes/%s:\n%x\nostree's:\n%x", k, gs.indexes[k], v)
				}
			}
			for k := range gs.indexes {
				if _, ok := ws.indexes[k]; !ok {
					t.Errorf("delta-indexes/%s left or written; ostree has none", k)
				}
			}
		})
	}

	resetDeltaState(t, f.repo, config, staleIdx)
	for _, args := range [][]string{
		{"static-delta", "list"},
		{"static-delta", "delete", strings.Repeat("ab", 32)},
		{"static-delta", "delete", "nope"},
		{"static-delta", "delete", strings.Repeat("ab", 32) + "-x"},
		{"static-delta", "show", "nope"},
		{"static-delta", "show", strings.Repeat("ab", 32)},
		{"static-delta", "indexes"},
		{"static-delta", "indexes", "extra"},
		{"static-delta", "reindex", "--to="},
		{"static-delta", "reindex", "--to=" + strings.Repeat("A", 64)},
		{"static-delta", "reindex", "--to=" + strings.Repeat("a", 70)},
	} {
		sameCLI(t, f.repo, args...)
	}
	repotest.Ostree(t, "--repo="+f.repo, "static-delta", "reindex")
	sameCLI(t, f.repo, "static-delta", "indexes")
	resetDeltaState(t, f.repo, config, nil)
	sameCLI(t, f.repo, "static-delta", "indexes")
}

// showFields are the lines of `ostree static-delta show` that must be the
// same for ostree's and repofs's delta made with the same options (the
// parts' contents differ: repofs has no rollsum and its own diff and xz).
var showFields = []string{"Signed:", "From", "To:", "Endianness:", "Number of parents:", "Number of fallback entries:", "Number of parts:"}

func showLines(show string) []string {
	var out []string
	for l := range strings.SplitSeq(show, "\n") {
		for _, f := range showFields {
			if strings.HasPrefix(l, f) {
				out = append(out, l)
			}
		}
	}
	return out
}

// TestInteropStaticDeltaGenerate runs `static-delta generate` with each
// option with both tools, each on its own copy of one repository and in
// its own working directory: the same stdout, exit code, error line and
// first stderr line; then, where both succeed, `ostree static-delta show`
// of both deltas agrees (endianness, parts, fallbacks, signed) and ostree
// applies repofs's delta offline to an fsck-clean commit.
func TestInteropStaticDeltaGenerate(t *testing.T) {
	repotest.RequireOstree(t)
	ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 12, Big: 64 << 10, NoScratch: true, NoFrom: true})
	os.Remove(filepath.Join(ds.Repo, "summary"))
	secret := "zsbNBV8pF0jqGuRQD7l9ZEU2nHYfvzC44nh2xCUgwvt8dvMs69PvAddjeP5fWKg4ThkgdJbC+DjmjhiWDM9pIA=="
	update, scratch := ds.From+"-"+ds.To, ds.To
	cases := []struct {
		args  []string
		delta string // where the delta goes: its name, or a path under the working directory
		pre   bool   // generate the plain delta first
	}{
		{args: []string{"--to=main"}, delta: update},
		{args: []string{"main"}, delta: update},
		{args: []string{"--empty", "--to=main"}, delta: scratch},
		{args: []string{"--from=" + ds.From, "--to=" + ds.To, "--inline"}, delta: update},
		{args: []string{"--to=main", "--swap-endianness"}, delta: update},
		{args: []string{"--to=main", "--set-endianness=B"}, delta: update},
		{args: []string{"--to=main", "--set-endianness=l"}, delta: update},
		{args: []string{"--to=main", "--set-endianness=B", "--swap-endianness"}, delta: update},
		{args: []string{"--empty", "--to=main", "--set-endianness=l", "--swap-endianness"}, delta: scratch},
		{args: []string{"--to=main", "--set-endianness=x"}},
		{args: []string{"--to=main", "--set-endianness="}},
		{args: []string{"--to=main", "--set-endianness=big"}},
		{args: []string{"--to=main", "--filename=out/sb"}, delta: "out/sb"},
		{args: []string{"--to=main", "--filename=out/sb", "--swap-endianness", "--inline"}, delta: "out/sb"},
		{args: []string{"--to=main", "--filename=nodir/sb"}},
		{args: []string{"--to=main", "--filename="}},
		{args: []string{"--to=main", "--max-chunk-size=0"}, delta: update},
		{args: []string{"--to=main", "--max-chunk-size=abc"}, delta: update},
		{args: []string{"--empty", "--to=main", "--min-fallback-size=0"}, delta: scratch},
		{args: []string{"--to=main", "--max-bsdiff-size=0"}, delta: update},
		{args: []string{"--to=main", "--max-bsdiff-size=1"}, delta: update},
		{args: []string{"--to=main", "--disable-bsdiff"}, delta: update},
		{args: []string{"--to=main", "-n"}, delta: update},
		{args: []string{"--to=main", "--if-not-exists"}, pre: true},
		{args: []string{"--to=main", "--sign-type=foo"}, delta: update},
		{args: []string{"--to=main", "--sign-type=foo", "--sign=" + secret}},
		{args: []string{"--to=main", "--sign-type=", "--sign=" + secret}},
		{args: []string{"--to=main", "--sign-type="}},
		{args: []string{}},
		{args: []string{"--to="}},
		{args: []string{"--to=nope"}},
		{args: []string{"--from=nope", "--to=nope2"}},
		{args: []string{"--from=", "--to=main"}},
		{args: []string{"--empty", "--from=main", "--to=main"}},
		{args: []string{"--empty", "--from=", "--to=main"}},
		{args: []string{"--to=" + ds.From}},
		{args: []string{"--from=main", "--to=main"}, delta: ds.To + "-" + ds.To},
	}
	base := t.TempDir()
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var repos, dirs [2]string
			var outs, errs [2]string
			var codes [2]int
			for i, tool := range []string{"ostree", "repofs"} {
				repos[i] = cloneRepo(t, ds.Repo)
				dirs[i] = filepath.Join(t.TempDir(), "cwd")
				if err := os.MkdirAll(filepath.Join(dirs[i], "out"), 0o755); err != nil {
					t.Fatal(err)
				}
				args := append([]string{"--repo=" + repos[i], "static-delta", "generate"}, c.args...)
				if c.pre {
					repotest.Ostree(t, "--repo="+repos[i], "static-delta", "generate", "--to=main")
				}
				t.Chdir(dirs[i])
				if tool == "ostree" {
					outs[i], errs[i], codes[i] = repotest.RunOstree(t, args...)
				} else {
					outs[i], errs[i], codes[i] = repofs(t, args...)
				}
				t.Chdir(base)
			}
			if outs[1] != outs[0] || codes[1] != codes[0] || errorLine(errs[1]) != errorLine(errs[0]) {
				t.Fatalf("repofs: %q exit %d %q; ostree: %q exit %d %q", outs[1], codes[1], errorLine(errs[1]), outs[0], codes[0], errorLine(errs[0]))
			}
			if codes[0] != 0 {
				return
			}
			// The first two lines ("modified:", "new reachable:") are
			// the same; the others count rollsum, which repofs has not.
			head := func(s string) []string { return strings.SplitN(s, "\n", 3)[:min(2, strings.Count(s, "\n"))] }
			if g, w := head(errs[1]), head(errs[0]); !slices.Equal(g, w) {
				t.Errorf("first stderr lines %q, ostree's %q", g, w)
			}
			if c.delta == "" {
				return
			}
			var shows [2][]string
			var paths [2]string
			for i := range 2 {
				paths[i] = filepath.Join(dirs[i], c.delta)
				if !strings.Contains(c.delta, "/") {
					paths[i] = superblockFile(t, repos[i], c.delta)
				}
				// ostree's show reads parts from the repository's
				// deltas/ only (so fails on inline parts and
				// --filename), after the lines compared here.
				out, _, _ := repotest.RunOstree(t, "--repo="+repos[i], "static-delta", "show", paths[i])
				shows[i] = showLines(out)
			}
			if !slices.Equal(shows[1], shows[0]) {
				t.Errorf("ostree static-delta show of repofs's delta:\n%s\nof ostree's:\n%s", strings.Join(shows[1], "\n"), strings.Join(shows[0], "\n"))
			}
			// repofs shows both as ostree does, and ostree applies
			// repofs's delta.
			for i := range 2 {
				want, _, code := repotest.RunOstree(t, "--repo="+repos[i], "static-delta", "show", paths[i])
				if got, _, _ := repofs(t, "--repo="+repos[i], "static-delta", "show", paths[i]); code == 0 && got != want {
					t.Errorf("repofs static-delta show %s:\n%s\nostree's:\n%s", paths[i], got, want)
				}
			}
			if c.delta == ds.To+"-"+ds.To {
				return // T'→T' needs a client with T'
			}
			client := filepath.Join(t.TempDir(), "client")
			repotest.Init(t, client, "bare-user")
			if !slices.Contains(c.args, "--empty") {
				repotest.Ostree(t, "--repo="+client, "pull-local", repos[1], ds.From)
			}
			repotest.Ostree(t, "--repo="+client, "static-delta", "apply-offline", paths[1])
			repotest.Ostree(t, "--repo="+client, "fsck")
			want := repotest.Ostree(t, "--repo="+ds.Repo, "ls", "-R", "-C", ds.To)
			if got := repotest.Ostree(t, "--repo="+client, "ls", "-R", "-C", ds.To); got != want {
				t.Errorf("ls -R of the commit ostree applied repofs's delta to differs")
			}
		})
	}
}

// superblockFile is the superblock of delta name in repository repoPath.
func superblockFile(t *testing.T, repoPath, name string) string {
	t.Helper()
	n, ok := delta.ParseName(name)
	if !ok {
		t.Fatalf("bad delta name %q", name)
	}
	return filepath.Join(repoPath, n.SuperblockPath())
}

// TestStaticDeltaFilenameDir: --filename naming an existing directory
// (where ostree 2022.7 fails: it renames the superblock onto the
// directory) writes the superblock and parts inside it, and ostree
// applies that directory offline; --sign-type other than ed25519 fails
// verify and apply-offline with ostree's messages.
func TestStaticDeltaFilenameDir(t *testing.T) {
	repotest.RequireOstree(t)
	ds := repotest.NewDeltaSource(t, repotest.DeltaOpts{Files: 8, Big: 16 << 10, NoScratch: true, NoFrom: true})
	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := repofs(t, "--repo="+ds.Repo, "static-delta", "generate", "--to=main", "--filename="+out); code != 0 {
		t.Fatalf("generate --filename=%s: exit %d: %s", out, code, stderr)
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"0", "superblock"}) {
		t.Fatalf("--filename=DIR wrote %v, want [0 superblock]", names)
	}
	if _, err := os.Stat(filepath.Join(ds.Repo, "deltas")); !os.IsNotExist(err) {
		t.Errorf("--filename also wrote into the repository's deltas/ (%v)", err)
	}
	client := filepath.Join(t.TempDir(), "client")
	repotest.Init(t, client, "bare-user")
	repotest.Ostree(t, "--repo="+client, "pull-local", ds.Repo, ds.From)
	repotest.Ostree(t, "--repo="+client, "static-delta", "apply-offline", out)
	repotest.Ostree(t, "--repo="+client, "fsck")
	if got, want := repotest.Ostree(t, "--repo="+client, "ls", "-R", "-C", ds.To), repotest.Ostree(t, "--repo="+ds.Repo, "ls", "-R", "-C", ds.To); got != want {
		t.Errorf("ls -R of the applied commit differs")
	}

	sb := filepath.Join(out, "superblock")
	for _, args := range [][]string{
		{"static-delta", "verify", sb, "--sign-type=foo"},
		{"static-delta", "verify", sb, "AAAA", "--sign-type=rsa"},
		{"static-delta", "verify", sb, "--sign-type="},
		{"static-delta", "apply-offline", sb, "--sign-type=foo"},
		{"static-delta", "apply-offline", sb, "--sign-type="},
	} {
		sameCLI(t, client, args...)
	}
}

// TestInteropStaticDeltaFallbacks: --min-fallback-size leaves the same
// files to be fetched on their own as ostree does (megabytes of
// 1000×1000 bytes, "more than"), with the same stdout and verbose lines.
func TestInteropStaticDeltaFallbacks(t *testing.T) {
	repotest.RequireOstree(t)
	base, _ := repotest.NewRepo(t, "archive", []repotest.Entry{
		{Path: "over", Kind: repotest.File, Size: 1000*1000 + 1},
		{Path: "exactly", Kind: repotest.File, Size: 1000 * 1000},
		{Path: "small", Kind: repotest.File, Size: 1000},
	})
	for _, args := range [][]string{
		{"--empty", "--to=main", "--min-fallback-size=1"},
		{"--empty", "--to=main", "--min-fallback-size=0"},
		{"--empty", "--to=main", "--min-fallback-size=1", "--swap-endianness"},
	} {
		var shows [2][]string
		var outs, errs [2]string
		for i := range 2 {
			r := cloneRepo(t, base)
			full := append([]string{"--repo=" + r, "static-delta", "generate"}, args...)
			var code int
			if i == 0 {
				outs[i], errs[i], code = repotest.RunOstree(t, full...)
			} else {
				outs[i], errs[i], code = repofs(t, full...)
			}
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, errs[i])
			}
			name := strings.TrimSpace(strings.TrimPrefix(outs[i][strings.LastIndex(outs[i], "To:"):], "To:"))
			shows[i] = showLines(repotest.Ostree(t, "--repo="+r, "static-delta", "show", name))
		}
		if outs[1] != outs[0] {
			t.Errorf("%v: stdout %q, ostree's %q", args, outs[1], outs[0])
		}
		fallbacks := func(s string) (out []string) {
			for l := range strings.SplitSeq(s, "\n") {
				if strings.HasPrefix(l, "fallback for") || strings.HasPrefix(l, "new reachable") {
					out = append(out, l)
				}
			}
			slices.Sort(out) // ostree's are in its hash table's order
			return out
		}
		if g, w := fallbacks(errs[1]), fallbacks(errs[0]); !slices.Equal(g, w) {
			t.Errorf("%v: verbose lines %q, ostree's %q", args, g, w)
		}
		if !slices.Equal(shows[1], shows[0]) {
			t.Errorf("%v: ostree static-delta show of repofs's delta:\n%s\nof ostree's:\n%s", args, strings.Join(shows[1], "\n"), strings.Join(shows[0], "\n"))
		}
	}
}
