package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/tmpdir"
)

// ErrNoSpace means a write would leave less free space than
// core.min-free-space-percent or core.min-free-space-size ask for. A
// *NoSpaceError carries it, and also wraps ENOSPC and EDQUOT.
var ErrNoSpace = errors.New("not enough free space")

// minFreeSpace is a repository's reserve, as ostree reads it from
// [core]: min-free-space-size ("500MB", "2GB", "1TB") wins over
// min-free-space-percent (0–99); with neither, 3 percent.
type minFreeSpace struct {
	percent int
	mb      uint64
}

var freeSizeRE = regexp.MustCompile(`^([0-9]+)(G|M|T)B$`)

// minFreeSpace parses the reserve, with ostree's messages for bad values.
func (r *Repo) minFreeSpace() (minFreeSpace, error) {
	var m minFreeSpace
	size, hasSize := r.config.Get("core", "min-free-space-size")
	if hasSize {
		g := freeSizeRE.FindStringSubmatch(size)
		n, err := uint64(0), error(nil)
		if g != nil {
			n, err = strconv.ParseUint(g[1], 10, 64)
		}
		if g == nil || err != nil {
			return m, fmt.Errorf("Invalid min-free-space-size '%s'", size)
		}
		shift := map[string]uint{"M": 0, "G": 10, "T": 20}[g[2]]
		if n > (^uint64(0)>>20)>>shift {
			return m, fmt.Errorf("Invalid min-free-space-size '%s': too large", size)
		}
		m.mb = n << shift
	}
	if pct, ok := r.config.Get("core", "min-free-space-percent"); ok {
		n, err := strconv.ParseUint(pct, 10, 8)
		if err != nil {
			for _, c := range pct {
				if c < '0' || c > '9' {
					return m, fmt.Errorf("Invalid min-free-space-percent '%s': must be a number", pct)
				}
			}
		}
		if err != nil || n > 99 {
			return m, fmt.Errorf("Invalid min-free-space-percent '%s'", pct)
		}
		m.percent = int(n)
	} else if !hasSize {
		m.percent = 3
	}
	if m.percent != 0 && m.mb != 0 {
		m.percent = 0 // ostree enforces the size alone
	}
	return m, nil
}

// words names the limit as ostree's error does.
func (m minFreeSpace) words() string {
	if m.mb > 0 {
		return fmt.Sprintf("min-free-space-size %dMB", m.mb)
	}
	return fmt.Sprintf("min-free-space-percent '%d%%'", m.percent)
}

// spaceBudget is how many blocks a transaction's content objects may
// still take, as ostree computes it when a transaction begins: the free
// blocks (f_bfree for root, f_bavail otherwise) less the reserve. Each
// content object staged takes size/blocksize+1 of them; metadata is
// never refused, as in ostree (it is small and keeps the repository
// consistent).
type spaceBudget struct {
	limit     minFreeSpace
	blockSize int64

	mu      sync.Mutex
	blocks  int64
	tripped bool // a check failed: Abort deletes the staging directory
}

// newSpaceBudget measures the filesystem of the repository; nil when the
// reserve is 0.
func (r *Repo) newSpaceBudget() (*spaceBudget, error) {
	m, err := r.minFreeSpace()
	if err != nil {
		return nil, err
	}
	if m.percent == 0 && m.mb == 0 {
		return nil, nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(r.path, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", r.path, err)
	}
	reserved := m.mb << 20
	if m.mb == 0 {
		reserved = uint64(float64(uint64(st.Frsize)*st.Blocks) * float64(m.percent) / 100)
	}
	b := &spaceBudget{limit: m, blockSize: st.Bsize}
	if b.blockSize <= 0 {
		b.blockSize = 4096
	}
	free := st.Bavail
	if os.Geteuid() == 0 {
		free = st.Bfree
	}
	if rb := reserved / uint64(b.blockSize); free > rb {
		b.blocks = int64(free - rb)
	}
	return b, nil
}

// check fails when size more bytes would not fit; take also counts them.
func (b *spaceBudget) check(size int64, take bool) error {
	if b == nil {
		return nil
	}
	need := size/b.blockSize + 1
	b.mu.Lock()
	ok := need <= b.blocks
	if ok && take {
		b.blocks -= need
	}
	b.tripped = b.tripped || !ok
	b.mu.Unlock()
	if ok {
		return nil
	}
	return &NoSpaceError{Limit: b.limit.words(), Needed: size}
}

// hasTripped reports whether a check failed.
func (b *spaceBudget) hasTripped() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tripped
}

// MinFreeSpaceHit reports whether core.min-free-space-* refused an object
// in this transaction: Abort then deletes the staging directory, and a
// pull its partial downloads.
func (tx *Transaction) MinFreeSpaceHit() bool { return tx.space.hasTripped() }

// CheckSpace fails with a *NoSpaceError (ErrNoSpace) when a content
// object of size bytes would not fit within the free space the
// repository's min-free-space setting leaves to this transaction; 0 asks
// whether anything still fits. It takes nothing: staging the object does.
// A pull asks before it downloads content, so that a full disk is found
// before a byte is fetched.
func (tx *Transaction) CheckSpace(size int64) error {
	return tx.space.check(size, false)
}

// NoSpaceError says why a write was refused or failed for lack of space,
// what it needed, and what tmp/ holds that could be released.
type NoSpaceError struct {
	// Limit is the setting that refused the write, in ostree's words
	// ("min-free-space-percent '3%'"); "" for an error explained by
	// Repo.ExplainNoSpace, whose Err is the whole error (ENOSPC, EDQUOT,
	// or one with a NoSpaceError of a Limit inside).
	Limit string
	// Needed is how many bytes the write wanted, 0 when unknown.
	Needed int64
	// Tmp is how many bytes the unfinished downloads and transactions in
	// tmp/ held once the write had ended, kept so that the next pull or
	// commit resumes them; set by Repo.ExplainNoSpace.
	Tmp int64
	// Err is the error explained, or nil.
	Err error
}

func (e *NoSpaceError) Error() string {
	if e.Limit != "" {
		msg := e.Limit + " would be exceeded"
		if e.Needed > 0 {
			msg += ", at least " + FormatSize(uint64(e.Needed)) + " requested"
		}
		return msg
	}
	msg := e.Err.Error()
	if e.Needed > 0 {
		msg += " (" + FormatSize(uint64(e.Needed)) + " needed)"
	}
	if e.Tmp > 0 {
		msg += "; tmp/ holds " + FormatSize(uint64(e.Tmp)) + " of unfinished downloads and transactions, kept so that the next pull or commit resumes them: free space and try again, or release them with 'repofs cleanup'"
	} else {
		msg += "; free space and try again"
	}
	return msg
}

func (e *NoSpaceError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrNoSpace, e.Err}
	}
	return []error{ErrNoSpace}
}

// ExplainNoSpace turns an error that is ErrNoSpace (a min-free-space-*
// limit), ENOSPC or EDQUOT, from anywhere in a write, into one that also
// says what tmp/ holds and how to release it; needed, when not 0, is what
// the write wanted. Call it once the transaction has ended, so that what
// its Abort released is not counted. Any other error, or one explained
// already, comes back as it is.
func (r *Repo) ExplainNoSpace(err error, needed int64) error {
	if e, ok := err.(*NoSpaceError); err == nil || ok && e.Limit == "" {
		return err
	}
	if !errors.Is(err, ErrNoSpace) && !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
		return err
	}
	e := &NoSpaceError{Err: err, Needed: needed}
	e.Tmp, _ = tmpdir.Usage(filepath.Join(r.path, "tmp"))
	return e
}

// ReleaseTmp removes the unfinished downloads and transactions under tmp/
// that no process holds (of this boot too, which a later pull would
// otherwise resume), to give their space back. Directories in use are
// left alone.
func (r *Repo) ReleaseTmp(ctx context.Context) (tmpdir.Removed, error) {
	return tmpdir.RemoveUnlocked(ctx, filepath.Join(r.path, "tmp"))
}
