package repotest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// RequireFlatpak skips the test, loudly, when the flatpak CLI is missing;
// under $CI it fails instead.
func RequireFlatpak(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("flatpak"); err != nil {
		msg := "flatpak CLI not found in $PATH; Flatpak interop test NOT RUN (apt-get install flatpak)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("SKIP: " + msg)
	}
}

// Flatpak runs flatpak with args, without a session bus, and fails the
// test unless it exits 0.
func Flatpak(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("flatpak", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "DBUS_SESSION_BUS_ADDRESS=disabled:", "OSTREE_REPO=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("flatpak %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// FlatpakRepo is a Flatpak repository built by the real flatpak tools.
type FlatpakRepo struct {
	Path string
	// Sign, when set, signs every export's commit and every summary,
	// summary index and its signature copies with this key, as
	// --gpg-sign and --gpg-homedir do.
	Sign *GPGKey
	work string
}

// signArgs are the flags that sign with fr.Sign, if any.
func (fr *FlatpakRepo) signArgs() []string {
	if fr.Sign == nil {
		return nil
	}
	return []string{"--gpg-sign=" + fr.Sign.ID, "--gpg-homedir=" + fr.Sign.Home}
}

// NewFlatpakRepo makes an empty Flatpak repository whose plain summary
// lists only the refs of summaryArches (flatpak.summary-arches; none:
// all), as Flathub's lists only x86_64.
func NewFlatpakRepo(t testing.TB, summaryArches ...string) *FlatpakRepo {
	t.Helper()
	RequireFlatpak(t)
	RequireOstree(t)
	dir := t.TempDir()
	fr := &FlatpakRepo{Path: filepath.Join(dir, "repo"), work: dir}
	Init(t, fr.Path, "archive")
	if len(summaryArches) > 0 {
		Ostree(t, "--repo="+fr.Path, "config", "set", "flatpak.summary-arches", strings.Join(summaryArches, ";"))
	}
	return fr
}

// AppRef names the app ref Export writes.
func AppRef(id, arch, branch string) string { return "app/" + id + "/" + arch + "/" + branch }

// Export commits an app with one file, bin/hello holding content, for
// arch with build-finish and build-export (no summary update); it returns
// the commit.
func (fr *FlatpakRepo) Export(t testing.TB, id, arch, branch, content string) string {
	t.Helper()
	build, err := os.MkdirTemp(fr.work, "build-")
	if err != nil {
		t.Fatal(err)
	}
	WriteTree(t, build, []Entry{
		{Path: "files/bin/hello", Kind: File, Data: []byte(content), Mode: 0o755},
		{Path: "metadata", Kind: File, Data: fmt.Appendf(nil, "[Application]\nname=%s\nruntime=org.test.Platform/%s/%s\nsdk=org.test.Sdk/%s/%s\n", id, arch, branch, arch, branch)},
	})
	Flatpak(t, "build-finish", "--command=hello", build)
	Flatpak(t, append(append([]string{"build-export", "--arch=" + arch, "--no-update-summary"}, fr.signArgs()...), fr.Path, build, branch)...)
	return strings.TrimSpace(Ostree(t, "--repo="+fr.Path, "rev-parse", AppRef(id, arch, branch)))
}

// UpdateRepo runs build-update-repo: summary, summary.idx, subsummaries
// and their deltas; extra holds more of its flags (e.g.
// --generate-static-deltas).
func (fr *FlatpakRepo) UpdateRepo(t testing.TB, extra ...string) {
	t.Helper()
	args := append([]string{"build-update-repo", "--no-update-appstream"}, fr.signArgs()...)
	Flatpak(t, append(append(args, extra...), fr.Path)...)
}

// FlatpakBuild is an app's build directory (metadata and files/), kept
// so that later exports commit edits of the same tree.
type FlatpakBuild struct {
	Dir              string
	id, arch, branch string
	fr               *FlatpakRepo
}

// NewBuild writes an app's metadata and files (paths under files/) and
// runs build-finish on them.
func (fr *FlatpakRepo) NewBuild(t testing.TB, id, arch, branch string, files []Entry) *FlatpakBuild {
	t.Helper()
	dir, err := os.MkdirTemp(fr.work, "build-")
	if err != nil {
		t.Fatal(err)
	}
	b := &FlatpakBuild{Dir: dir, id: id, arch: arch, branch: branch, fr: fr}
	WriteTree(t, dir, []Entry{{Path: "metadata", Kind: File, Data: fmt.Appendf(nil, "[Application]\nname=%s\nruntime=org.test.Platform/%s/%s\nsdk=org.test.Sdk/%s/%s\n", id, arch, branch, arch, branch)}})
	b.Write(t, files)
	Flatpak(t, "build-finish", "--command=hello", dir)
	return b
}

// Write adds or replaces files (paths under files/); pseudo-random
// contents are seeded by those paths.
func (b *FlatpakBuild) Write(t testing.TB, files []Entry) {
	t.Helper()
	es := slices.Clone(files)
	for i := range es {
		if es[i].Data == nil && es[i].Size > 0 {
			es[i].Data = Pseudorandom(es[i].Path, es[i].Size)
		}
		es[i].Path = "files/" + es[i].Path
	}
	WriteTree(t, b.Dir, es)
}

// Remove deletes files (paths under files/).
func (b *FlatpakBuild) Remove(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Remove(filepath.Join(b.Dir, "files", filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
	}
}

// Export commits the build with build-export (no summary update) and
// returns the commit.
func (b *FlatpakBuild) Export(t testing.TB) string {
	t.Helper()
	Flatpak(t, append(append([]string{"build-export", "--arch=" + b.arch, "--no-update-summary"}, b.fr.signArgs()...), b.fr.Path, b.Dir, b.branch)...)
	return strings.TrimSpace(Ostree(t, "--repo="+b.fr.Path, "rev-parse", AppRef(b.id, b.arch, b.branch)))
}

// FlatpakDeltaSource is a Flatpak repository holding two commits of an
// app on Ref, From and To, and the static deltas `flatpak
// build-update-repo --generate-static-deltas` makes for them: from
// scratch to each commit, and From→To (flatpak's delta from a ref's
// parent commit), listed in delta-indexes/. To edits a few small files
// and, in its middle, the large file Big, adds one file and removes
// another. First is a copy of the repository as it was before To.
type FlatpakDeltaSource struct {
	Repo, First string
	Ref         string
	From, To    string
	Big         string // path of the large file in the commits
}

// NewFlatpakDeltaSource builds a FlatpakDeltaSource for an app of arch.
// summaryArches as for NewFlatpakRepo: an arch left out has its refs only
// in a subsummary, which lists no deltas, so that its deltas are found
// only through delta-indexes/.
func NewFlatpakDeltaSource(t testing.TB, arch string, summaryArches ...string) *FlatpakDeltaSource {
	t.Helper()
	fr := NewFlatpakRepo(t, summaryArches...)
	const id, n, bigSize = "org.test.Delta", 60, 1 << 20
	fs := &FlatpakDeltaSource{Repo: fr.Path, First: filepath.Join(fr.work, "first"), Ref: AppRef(id, arch, "stable"), Big: "files/share/big.bin"}
	var es []Entry
	for i := range n {
		es = append(es, Entry{Path: fmt.Sprintf("lib/d%d/f%03d", i%5, i), Kind: File, Size: int64(200 + i*53%4000), Mode: []uint32{0o644, 0o755}[i%2]})
	}
	es = append(es,
		Entry{Path: "bin/hello", Kind: File, Data: []byte("#!/bin/sh\necho hello\n"), Mode: 0o755},
		Entry{Path: "share/big.bin", Kind: File, Size: bigSize},
		Entry{Path: "share/gone", Kind: File, Data: []byte("removed in To\n")},
		Entry{Path: "lib/link", Kind: Symlink, Target: "d0/f000"},
	)
	b := fr.NewBuild(t, id, arch, "stable", es)
	fs.From = b.Export(t)
	fr.UpdateRepo(t, "--generate-static-deltas")
	if out, err := exec.Command("cp", "-a", fr.Path, fs.First).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v\n%s", fr.Path, fs.First, err, out)
	}

	var edits []Entry
	for i := 0; i < n; i += 10 {
		p := fmt.Sprintf("lib/d%d/f%03d", i%5, i)
		edits = append(edits, Entry{Path: p, Kind: File, Data: append(Pseudorandom(p, int64(200+i*53%4000)), fmt.Sprintf("edited %d\n", i)...), Mode: []uint32{0o644, 0o755}[i%2]})
	}
	big := Pseudorandom("share/big.bin", bigSize)
	copy(big[len(big)/2:], "an edit in the middle of the big file")
	edits = append(edits,
		Entry{Path: "share/big.bin", Kind: File, Data: big},
		Entry{Path: "share/new", Kind: File, Data: []byte("new in To\n")},
	)
	b.Write(t, edits)
	b.Remove(t, "share/gone")
	fs.To = b.Export(t)
	fr.UpdateRepo(t, "--generate-static-deltas")

	// Flatpak's own choice of deltas is what the tests rely on: check it.
	deltas := strings.Fields(Ostree(t, "--repo="+fr.Path, "static-delta", "list"))
	for _, want := range []string{fs.From, fs.To, fs.From + "-" + fs.To} {
		if !slices.Contains(deltas, want) {
			t.Fatalf("flatpak build-update-repo --generate-static-deltas made deltas %q; want %s among them", deltas, want)
		}
	}
	return fs
}
