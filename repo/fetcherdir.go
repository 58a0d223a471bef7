package repo

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/repofs/repofs/tmpdir"
)

// ArchiveObjectPath is where an archive repository keeps object c of type
// t, relative to its top directory: objects/XX/REST.EXT, content as .filez.
// A pull requests it relative to the remote's URL.
func ArchiveObjectPath(c Checksum, t ObjectType) string {
	s := c.String()
	ext := t.Ext()
	if t == ObjFile {
		ext = "filez"
	}
	return "objects/" + s[:2] + "/" + s[2:] + "." + ext
}

// FetcherDir is a tmp/fetcher-<boot>-XXXXXX directory that one pull holds
// locked: its partial downloads live there until they are verified and
// staged, and a pull that fails leaves them for the next one to resume.
// Reused says they may be there; they are evidence, not truth.
type FetcherDir struct {
	*tmpdir.Dir
}

// AllocateFetcherDir locks a fetcher directory of this boot, reusing one
// that an earlier pull left unlocked.
func (r *Repo) AllocateFetcherDir(ctx context.Context) (*FetcherDir, error) {
	bootID, err := tmpdir.BootID()
	if err != nil {
		return nil, fmt.Errorf("allocate fetcher directory in %s: %w", r.path, err)
	}
	d, err := tmpdir.Allocate(ctx, filepath.Join(r.path, "tmp"), tmpdir.Fetcher, bootID)
	if err != nil {
		return nil, err
	}
	return &FetcherDir{d}, nil
}

// PartialPath is the file a download of content object c goes to: its
// .filez bytes as the remote serves them, named by the object so that the
// next pull finds them.
func (d *FetcherDir) PartialPath(c Checksum) string {
	return filepath.Join(d.Path, c.String()+".filez")
}
