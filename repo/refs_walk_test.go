package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestListRefsWalk: listing thousands of refs in nested directories,
// read a few at once, finds each once, follows aliases, skips names
// that are no ref's, and sorts them; a loop of aliases and a file that
// holds no checksum fail the listing with what ostree says.
func TestListRefsWalk(t *testing.T) {
	r := initRepo(t, ModeArchive)
	heads := filepath.Join(r.Path(), "refs", "heads")
	var want []string
	for i := range 3000 {
		name := fmt.Sprintf("app/org.test.App%d/%s/stable", i%700, []string{"x86_64", "aarch64", "i386", "arm"}[i/700%4])
		if i/700 == 4 {
			name = fmt.Sprintf("runtime/org.test.Rt%d", i)
		}
		putRef(t, r, "heads/"+name, checksumOf(name))
		want = append(want, name)
	}
	putRef(t, r, "remotes/origin/os/main", checksumOf("remote"))
	want = append(want, "origin:os/main")
	if err := os.Symlink("app/org.test.App1/x86_64/stable", filepath.Join(heads, "alias")); err != nil {
		t.Fatal(err)
	}
	want = append(want, "alias")
	for _, junk := range []string{".tmp-ref", "app/.rsync_info", "app/-bad"} {
		writeFile(t, filepath.Join(heads, junk), []byte("junk"))
	}
	slices.Sort(want)
	refs, err := r.ListRefs("", false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ref := range refs {
		got = append(got, ref.String())
		if wantSum := checksumOf(ref.Name); ref.Name != "alias" && ref.Remote == "" && ref.Checksum != wantSum {
			t.Errorf("%s: commit %s, want %s", ref, ref.Checksum, wantSum)
		}
		if ref.Name == "alias" && ref.Checksum != checksumOf("app/org.test.App1/x86_64/stable") {
			t.Errorf("alias: commit %s, not its target's", ref.Checksum)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d refs, want %d; first differing: %v", len(got), len(want), firstDiff(got, want))
	}

	for _, tc := range []struct {
		name, link, content, want string
	}{
		{"loop", "loop", "", "Listing refs: openat(app/loop): Too many levels of symbolic links"},
		{"garbage", "", "not a checksum\n", "garbage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(heads, "app", tc.name)
			if tc.link != "" {
				if err := os.Symlink(tc.link, p); err != nil {
					t.Fatal(err)
				}
			} else {
				writeFile(t, p, []byte(tc.content))
			}
			defer os.Remove(p)
			_, err := r.ListRefs("", false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ListRefs: %v, want an error with %q", err, tc.want)
			}
			if tc.link != "" && !errors.Is(err, ErrAliasLoop) {
				t.Errorf("ListRefs: %v, not ErrAliasLoop", err)
			}
		})
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " / " + b[i]
		}
	}
	return fmt.Sprint(len(a), " / ", len(b))
}
