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

// TestRefWalkReadsRefFiles: the one walker reads a ref file in one read
// when it ends in a newline and to its end when not, for a listing and
// for the watch alike; an empty file is no ref to the watch (a file
// being written in place) and a bad one to a listing.
func TestRefWalkReadsRefFiles(t *testing.T) {
	sum := checksumOf("walk")
	for _, tc := range []struct {
		name, content string
		ok            bool
	}{
		{"newline", sum.String() + "\n", true},
		{"no-newline", sum.String(), true},
		{"crlf", sum.String() + "\r\n", true},
		{"spaces", "  " + sum.String() + " \n\n", true},
		{"empty", "", false},
		{"short", sum.String()[:20] + "\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := initRepo(t, ModeArchive)
			dir := filepath.Join(r.Path(), "refs", "heads", "app", "x")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "stable"), []byte(tc.content))
			refs, err := r.ListRefs("", false)
			if tc.ok && (err != nil || len(refs) != 1 || refs[0].Checksum != sum) {
				t.Errorf("ListRefs: %v, %v; want app/x/stable at %s", refs, err, sum)
			}
			if !tc.ok && err == nil {
				t.Errorf("ListRefs: %v, want an error", refs)
			}
			s := scanRefs(r.Path(), "", nil)
			found := len(s.refs) == 1 && s.refs[0].path == "heads/app/x/stable" && s.refs[0].sum == sum
			if tc.ok && (s.err != nil || !found) {
				t.Errorf("scanRefs: %v, %v; want heads/app/x/stable at %s", s.refs, s.err, sum)
			}
			if !tc.ok && len(s.refs) != 0 {
				t.Errorf("scanRefs: %v, want no ref", s.refs)
			}
			if tc.name == "empty" && s.err != nil {
				t.Errorf("scanRefs: %v; an empty file is no error to the watch", s.err)
			}
		})
	}
}
