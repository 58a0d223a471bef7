package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var checkoutCommand = &command{
	name:    "checkout",
	summary: "Write a commit's tree to a new directory",
	usage:   "[OPTION...] REV [DEST]",
	help: `DEST (REV if not given) must not exist unless a --union option is given.
Files never follow a symlink out of DEST: symlinks in the commit are
recreated as symlinks, never resolved. A file (--subpath) is written
into the directory DEST. Options as ostree checkout's.

Options:
  -U, --user-mode      no ownership, no xattrs, no setuid/setgid bits
  --subpath=PATH       check out only PATH of the commit
  --disable-cache      with -U from an archive repository: neither use nor
                       fill repo/uncompressed-objects-cache, shared with
                       ostree, whose entries later -U checkouts hardlink
                       (each verified against its object before that)
  --fsync=POLICY       false: do not flush new cache entries to disk before
                       adding them, and add them at once rather than at the
                       next -U checkout (default true, or core.fsync)
  --union              keep existing directories, replace existing files
  --union-add          keep existing files and directories, only add
  --union-identical    fail if an existing file differs (needs -H)
  --whiteouts          process Docker/OCI whiteouts (.wh.NAME removes NAME,
                       .wh..wh..opq empties its directory)
  --allow-noent        a missing --subpath is no error (ignored with any
                       option below or --disable-cache, as by ostree)
  --from-file=FILE     check out NUL-terminated REV, SUBPATH pairs into DEST
  --from-stdin         the same from standard input
  -H, --require-hardlinks  fail rather than copy a file
  -C, --force-copy     never hardlink; directories keep their mtimes
  -M, --bareuseronly-dirs  drop directory mode bits outside 0775
  --skip-list=FILE     leave out the paths listed one a line (/a/file,
                       /a/dir/)

Example:
  repofs --repo=repo checkout -U os/main ./rootfs`,
	setup: withFlags((*checkoutFlags).register, runCheckout),
}

type checkoutFlags struct {
	user             bool
	subpath          string
	disableCache     bool
	fsync            string
	union            bool
	unionAdd         bool
	unionIdentical   bool
	whiteouts        bool
	allowNoent       bool
	fromFile         string
	fromStdin        bool
	requireHardlinks bool
	forceCopy        bool
	bareuseronlyDirs bool
	skipList         string
}

func (f *checkoutFlags) register(fs *flag.FlagSet) {
	fs.BoolVarP(&f.user, "user-mode", "U", false, "")
	fs.StringVar(&f.subpath, "subpath", "/", "")
	fs.BoolVar(&f.disableCache, "disable-cache", false, "")
	fs.StringVar(&f.fsync, "fsync", "true", "")
	fs.BoolVar(&f.union, "union", false, "")
	fs.BoolVar(&f.unionAdd, "union-add", false, "")
	fs.BoolVar(&f.unionIdentical, "union-identical", false, "")
	fs.BoolVar(&f.whiteouts, "whiteouts", false, "")
	fs.BoolVar(&f.allowNoent, "allow-noent", false, "")
	fs.StringVar(&f.fromFile, "from-file", "", "")
	fs.BoolVar(&f.fromStdin, "from-stdin", false, "")
	fs.BoolVarP(&f.requireHardlinks, "require-hardlinks", "H", false, "")
	fs.BoolVarP(&f.forceCopy, "force-copy", "C", false, "")
	fs.BoolVarP(&f.bareuseronlyDirs, "bareuseronly-dirs", "M", false, "")
	fs.StringVar(&f.skipList, "skip-list", "", "")
}

// newOptions: ostree checks these out through ostree_repo_checkout_at,
// which never uses the uncompressed-objects cache, checks the option
// combinations, and ignores --allow-noent.
func (f *checkoutFlags) newOptions() bool {
	return f.disableCache || f.whiteouts || f.requireHardlinks || f.unionAdd || f.forceCopy ||
		f.bareuseronlyDirs || f.unionIdentical || f.skipList != ""
}

func runCheckout(e *env, f *checkoutFlags, args []string) error {
	if len(args) < 1 {
		return errors.New("COMMIT must be specified")
	}
	// Further arguments are ignored, as by ostree.
	fsync, ok := repo.ParseBool(f.fsync)
	if !ok {
		return usagef("checkout --fsync=%s: not a boolean (true or false)", f.fsync)
	}
	if f.fromStdin || f.fromFile != "" {
		var in io.Reader = e.stdin
		if !f.fromStdin {
			fh, err := os.Open(f.fromFile)
			if err != nil {
				return fmt.Errorf("Error opening file %s: %s%w", f.fromFile, errnoText(err), errSilent{err})
			}
			defer fh.Close()
			in = fh
		}
		b, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		// NUL-terminated pairs: REV, then SUBPATH, all into DEST.
		fields := strings.Split(string(b), "\x00")
		for i := 0; i+1 < len(fields) || (i < len(fields) && fields[i] != ""); i += 2 {
			if fields[i] == "" {
				break
			}
			sub := ""
			if i+1 < len(fields) {
				sub = fields[i+1]
			}
			r, c, err := e.resolveRev(fields[i])
			if err != nil {
				return err
			}
			if err := checkoutOne(e, f, r, c, sub, args[0], fsync); err != nil {
				return fmt.Errorf("Processing tree %s: %w", c, err)
			}
		}
		return nil
	}
	dest := args[0]
	if len(args) == 2 {
		dest = args[1]
	}
	r, c, err := e.resolveRev(args[0])
	if err != nil {
		return err
	}
	return checkoutOne(e, f, r, c, f.subpath, dest, fsync)
}

// checkoutOne checks out subpath of commit c to dest, as ostree's
// process_one_checkout.
func checkoutOne(e *env, f *checkoutFlags, r *repo.Repo, c repo.Checksum, subpath, dest string, fsync bool) error {
	checkoutProcs(r)
	o := repo.CheckoutOptions{User: f.user, DisableCache: f.disableCache, NoFsync: !fsync}
	if f.newOptions() {
		o.DisableCache = true
		switch {
		case f.union && f.unionAdd:
			return errors.New("Cannot specify both --union and --union-add")
		case f.union && f.unionIdentical:
			return errors.New("Cannot specify both --union and --union-identical")
		case f.unionAdd && f.unionIdentical:
			return errors.New("Cannot specify both --union-add and --union-identical")
		case f.requireHardlinks && f.forceCopy:
			return errors.New("Cannot specify both --require-hardlinks and --force-copy")
		case f.unionIdentical && !f.requireHardlinks:
			return errors.New("--union-identical requires --require-hardlinks")
		}
		o.Whiteouts, o.RequireHardlinks, o.ForceCopy, o.BareUserOnlyDirs = f.whiteouts, f.requireHardlinks, f.forceCopy, f.bareuseronlyDirs
		if f.skipList != "" {
			b, err := os.ReadFile(f.skipList)
			if err != nil {
				return fmt.Errorf("openat(%s): %s%w", f.skipList, errnoText(err), errSilent{err})
			}
			skip := map[string]bool{}
			for l := range strings.SplitSeq(string(b), "\n") {
				skip[l] = true
			}
			o.Skip = func(p string) bool { return skip[p] }
		}
	}
	switch {
	case f.union:
		o.Overwrite = repo.OverwriteUnion
	case f.unionAdd:
		o.Overwrite = repo.OverwriteAdd
	case f.unionIdentical:
		o.Overwrite = repo.OverwriteIdentical
	}
	commit, err := r.ReadCommit(c)
	if err != nil {
		return err
	}
	n, err := r.Lookup(repo.RootNode(commit), subpath)
	if subpath == "" {
		// ostree resolves an empty subpath (from --from-file) to nothing.
		n, err = repo.Node{}, fmt.Errorf("No such file or directory: /%w", errSilent{repo.ErrNotFound})
	}
	if err != nil {
		if f.allowNoent && !f.newOptions() && errors.Is(err, repo.ErrNotFound) && !isObjectErr(err) {
			return nil
		}
		return pathErr(err, subpath)
	}
	if err := r.Checkout(e.ctx, n, dest, o); err != nil {
		// ostree's own words where it has them.
		if me, ok := errors.AsType[*repo.CheckoutMsgError](err); ok {
			return fmt.Errorf("%s%w", me.Msg, errSilent{err})
		}
		return err
	}
	return nil
}

// errnoText is the system error in err as C's strerror words it.
func errnoText(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		s := en.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}

// errSilent wraps an error for errors.Is without adding to the message.
type errSilent struct{ err error }

func (e errSilent) Error() string { return "" }
func (e errSilent) Unwrap() error { return e.err }

// checkoutProcs gives a checkout from an archive repository one P more
// than repo.Checkout's workers, one per core, unless GOMAXPROCS is set.
// There the workers inflate, and with as many Ps, both busy, the
// runtime's monitor takes the P of a worker in a system call longer than
// its tick (tens of microseconds: a large write, an inode allocated) and
// wakes a thread that finds nothing to run; with one P idle it leaves
// such calls alone. Where the workers mostly link (bare repositories),
// the idle P costs more in threads spinning for work than it saves.
func checkoutProcs(r *repo.Repo) {
	if os.Getenv("GOMAXPROCS") != "" || r.Mode() != repo.ModeArchive {
		return
	}
	if n := runtime.NumCPU() + 1; runtime.GOMAXPROCS(0) != n {
		runtime.GOMAXPROCS(n)
	}
}
