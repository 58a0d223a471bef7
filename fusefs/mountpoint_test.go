package fusefs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/testrepo"
	"github.com/repofs/repofs/repo"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       mountEntry
		ok         bool
	}{
		{"optional fields", `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`,
			mountEntry{"/mnt2", "ext3", "/dev/root"}, true},
		{"no optional fields", `45 27 0:40 / /tmp/m ro,nosuid,nodev,relatime - fuse.repofs /srv/repo ro,user_id=0`,
			mountEntry{"/tmp/m", "fuse.repofs", "/srv/repo"}, true},
		{"escapes", `45 27 0:40 / /tmp/a\040b\134c ro - fuse.repofs /srv/my\040repo ro`,
			mountEntry{`/tmp/a b\c`, "fuse.repofs", "/srv/my repo"}, true},
		{"two optional fields", `1 2 0:1 / /x rw shared:1 master:2 - tmpfs tmpfs rw`,
			mountEntry{"/x", "tmpfs", "tmpfs"}, true},
		{"no separator", `1 2 0:1 / /x rw shared:1 tmpfs tmpfs rw`, mountEntry{}, false},
		{"short", `1 2 0:1 / /x`, mountEntry{}, false},
		{"empty", ``, mountEntry{}, false},
	} {
		got, ok := parseMountinfo(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`plain`: "plain", `a\040b`: "a b", `tab\011`: "tab\t", `nl\012x`: "nl\nx",
		`back\134slash`: `back\slash`, `trailing\04`: `trailing\04`, `\999`: `\999`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMountpointRefused: a directory already mounted on (a second mount
// would stack over the first), a non-empty directory (unless NonEmpty)
// and a file are refused with a message that says what is wrong and what
// to do.
func TestMountpointRefused(t *testing.T) {
	requireFUSE(t)
	repoPath := filepath.Join(t.TempDir(), "repo")
	testrepo.Init(t, repoPath, "bare-user")
	r, err := repo.Open(repoPath)
	if err != nil {
		t.Fatal(err)
	}
	_, mounted := testMount(t, repoPath)
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "precious"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(full, "precious")
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(mounted, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mp   string
		o    MountOptions
		want []string // in the message
	}{
		{"mounted", mounted, MountOptions{}, []string{"already a mount", "fuse.repofs", repoPath, "umount " + mounted}},
		{"mounted, by a symlink", link, MountOptions{}, []string{"already a mount", "fuse.repofs"}},
		{"mounted, NonEmpty", mounted, MountOptions{NonEmpty: true}, []string{"already a mount"}},
		{"not empty", full, MountOptions{}, []string{"not empty", "precious", "--nonempty"}},
		{"a file", file, MountOptions{}, []string{"not a directory"}},
	} {
		m, err := MountRepo(context.Background(), r, tc.mp, tc.o)
		if err == nil {
			m.Unmount()
			t.Errorf("%s: mounted, want refused", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
	}
	// Over a non-empty directory when asked, hiding its files.
	m, err := MountRepo(context.Background(), r, full, MountOptions{NonEmpty: true})
	if err != nil {
		t.Fatalf("NonEmpty: %v", err)
	}
	defer m.Unmount()
	if _, err := os.Stat(filepath.Join(full, "refs")); err != nil {
		t.Errorf("NonEmpty: the mount does not show: %v", err)
	}
}
