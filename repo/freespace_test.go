package repo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/repofs/repofs/repo/gvariant"
	"github.com/repofs/repofs/tmpdir"
)

// TestMinFreeSpaceReleasesStaging: when core.min-free-space-* refuses a
// content object, the transaction's Abort deletes its staging directory,
// as ostree does (a disk that close to its reserve is not to hold
// caches), and the explained error says so; any other failed transaction
// keeps it for the next one to resume.
func TestMinFreeSpaceReleasesStaging(t *testing.T) {
	for _, c := range []struct {
		name    string
		reserve string // core.min-free-space-size; "" for the default 3 %
		trip    bool   // the reserve refuses the file
	}{
		{name: "guard tripped", reserve: "1000000000MB", trip: true},
		{name: "aborted otherwise", reserve: ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			r := initRepo(t, ModeBareUserOnly) // stores the file's 100 kB as they are
			if c.reserve != "" {
				cfg, err := r.ReadConfig()
				if err != nil {
					t.Fatal(err)
				}
				cfg.Set("core", "min-free-space-size", c.reserve)
				if err := r.WriteConfig(cfg); err != nil {
					t.Fatal(err)
				}
				if r, err = Open(r.Path()); err != nil {
					t.Fatal(err)
				}
			}
			tmp := filepath.Join(r.Path(), "tmp")
			tx, err := r.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Metadata is never refused: it is what tmp/ holds.
			meta := gvariant.EncodeDirMeta(gvariant.DirMeta{Mode: 0o40755})
			if _, err := tx.WriteMetadata(ObjDirMeta, meta, nil); err != nil {
				t.Fatal(err)
			}
			_, _, err = tx.WriteDirectory(ctx, srcTree(t, map[string]string{"f": strings.Repeat("x", 100000)}), DirOptions{})
			if got := err != nil; got != c.trip || tx.MinFreeSpaceHit() != c.trip {
				t.Fatalf("write: %v, MinFreeSpaceHit %v; want a refusal: %v", err, tx.MinFreeSpaceHit(), c.trip)
			}
			if held, _ := tmpdir.Usage(tmp); held == 0 {
				t.Fatal("tmp/ holds nothing before Abort")
			}
			tx.Abort()
			held, _ := tmpdir.Usage(tmp)
			if kept := held > 0; kept == c.trip {
				t.Errorf("after Abort tmp/ holds %d bytes; want the staging directory kept: %v", held, !c.trip)
			}
			if !c.trip {
				return
			}
			err = r.ExplainNoSpace(err, 0)
			var e *NoSpaceError
			if !errors.Is(err, ErrNoSpace) || !errors.As(err, &e) || e.Tmp != 0 {
				t.Fatalf("explained: %#v", err)
			}
			want := "min-free-space-size 1000000000MB would be exceeded, at least 100.0\u00a0kB requested; free space and try again"
			if !strings.HasSuffix(err.Error(), want) {
				t.Errorf("error %q does not end in %q", err, want)
			}
		})
	}
}

// TestExplainNoSpace: ENOSPC and EDQUOT are explained with what tmp/
// holds and the way to release it, once; other errors are left alone.
func TestExplainNoSpace(t *testing.T) {
	r := initRepo(t, ModeArchive)
	held := filepath.Join(r.Path(), "tmp", string(tmpdir.Staging)+"-boot-XXXXXX")
	if err := os.MkdirAll(held, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(held, "object"), make([]byte, 20000))
	for _, c := range []struct {
		err  error
		want string // "" for err unchanged
	}{
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, "write x: no space left on device; tmp/ holds "},
		{&os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}, "write x: disk quota exceeded; tmp/ holds "},
		{errors.New("other"), ""},
		{nil, ""},
	} {
		got := r.ExplainNoSpace(c.err, 0)
		if c.want == "" {
			if got != c.err {
				t.Errorf("%v explained as %v", c.err, got)
			}
			continue
		}
		if !strings.HasPrefix(got.Error(), c.want) || !strings.HasSuffix(got.Error(), "release them with 'repofs cleanup'") || !errors.Is(got, ErrNoSpace) {
			t.Errorf("%v explained as %q", c.err, got)
		}
		if again := r.ExplainNoSpace(got, 0); again != got {
			t.Errorf("explained twice: %q", again)
		}
	}
}
