package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
)

// ErrNeedsFallbacks means a delta cannot be applied offline: it leaves
// objects the repository does not have to be fetched on their own.
var ErrNeedsFallbacks = errors.New("cannot execute delta offline: contains nonempty http fallback entries")

// ApplyOptions shape ApplyOffline.
type ApplyOptions struct {
	// Verify, when set, is given the superblock's bytes and, when the file
	// is signed, its signatures, before anything is written.
	Verify func(superblock []byte, sigs Signatures, signed bool) error
	// Workers is how many parts are applied at once (0: 2).
	Workers int
}

// ApplyOffline applies the delta whose superblock file is path (or the
// directory holding it, with its parts) to r in one transaction, as
// `ostree static-delta apply-offline` does: the from-commit must be
// there, so must every fallback object; parts whose objects are all
// present are skipped; every object is verified as it is written. No ref
// is changed. It returns the superblock.
func ApplyOffline(ctx context.Context, r *repo.Repo, path string, o ApplyOptions) (*Superblock, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "superblock")
	}
	dir := filepath.Dir(path)
	sb, sigs, raw, err := ReadSuperblockFile(path)
	if err != nil {
		return nil, fmt.Errorf("apply delta: %w", err)
	}
	if o.Verify != nil {
		if err := o.Verify(raw, sigs, sigs != nil); err != nil {
			return nil, fmt.Errorf("apply delta %s: %w", sb.Name, err)
		}
	}
	if !sb.Name.Scratch {
		if ok, err := r.HasObject(sb.Name.From, repo.ObjCommit); err != nil {
			return nil, err
		} else if !ok {
			return nil, fmt.Errorf("apply delta %s: commit %s, which is the delta source, is not in repository: %w", sb.Name, sb.Name.From, repo.ErrNotFound)
		}
	}
	for _, f := range sb.Fallbacks {
		if ok, err := r.HasObject(f.Checksum, f.Type); err != nil {
			return nil, err
		} else if !ok {
			return nil, fmt.Errorf("apply delta %s: object %s: %w", sb.Name, f.Checksum, ErrNeedsFallbacks)
		}
	}
	fd, err := r.AllocateFetcherDir(ctx)
	if err != nil {
		return nil, err
	}
	defer fd.Release()
	tx, err := r.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Abort()
	if err := tx.MarkPartial(sb.Name.To); err != nil {
		return nil, err
	}
	sink := &TxSink{Repo: r, Tx: tx, TmpDir: fd.Path, Parallel: 4}
	workers := o.Workers
	if workers <= 0 {
		workers = 2
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range sb.Parts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := applyOfflinePart(ctx, sb, i, dir, fd.Path, sink); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("apply delta %s: part %d: %w", sb.Name, i, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if meta := sb.CommitMeta(); meta != nil {
		md, err := gvariant.DecodeMetadata(meta)
		if err != nil {
			return nil, fmt.Errorf("apply delta %s: detached metadata: %w: %v", sb.Name, ErrInvalid, err)
		}
		if err := tx.WriteCommitMeta(sb.Name.To, md); err != nil {
			return nil, err
		}
	}
	if _, err := tx.WriteMetadata(repo.ObjCommit, sb.Commit, &sb.Name.To); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return sb, nil
}

func applyOfflinePart(ctx context.Context, sb *Superblock, i int, dir, spill string, sink *TxSink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h := &sb.Parts[i]
	have := true
	for _, o := range h.Objects {
		ok, err := sink.Has(o)
		if err != nil {
			return err
		}
		if !ok {
			have = false
			break
		}
	}
	if have {
		return nil
	}
	var p *Part
	if file := sb.InlinePart(i); file != nil {
		if err := VerifyPart(bytesReader(file), h); err != nil {
			return err
		}
		var err error
		if p, err = DecodePart(file, Limit(h)); err != nil {
			return err
		}
	} else {
		f, err := os.Open(filepath.Join(dir, fmt.Sprint(i)))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := VerifyPart(f, h); err != nil {
			return err
		}
		if _, err := f.Seek(0, 0); err != nil {
			return err
		}
		if p, err = ReadPart(f, Limit(h), spill); err != nil {
			return err
		}
	}
	defer p.Close()
	_, err := p.Execute(h.Objects, sink)
	return err
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
