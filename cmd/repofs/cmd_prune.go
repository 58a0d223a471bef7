package main

import (
	"fmt"
	"strconv"
	"strings"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
)

var pruneCommand = &command{
	name:    "prune",
	summary: "Delete unreachable objects, or history beyond a depth or date",
	usage:   "[--no-prune] [--refs-only] [--depth=N] [--keep-younger-than=DATE] [--delete-commit=COMMIT] [--only-branch=REF]… [--retain-branch-depth=REF=N]… [--commit-only]",
	help: `Deletes the objects that nothing keeps, with the options, the meaning and
the output of 'ostree prune'. Without --refs-only every commit present is
kept and only objects no commit reaches go. The repository is locked
exclusively (repo/.lock, waiting up to core.lock-timeout-secs; exit 4 when
it stays locked) from before reachability is computed until the last
object is deleted, so pulls and commits of repofs and ostree wait for it.

Options:
  --no-prune                    count what would be deleted; delete nothing
  --refs-only                   keep only what refs reach
  --depth=N                     keep N parents of each commit kept (-1: all)
  --delete-commit=COMMIT        delete COMMIT first (no ref may point at it);
                                turns core.tombstone-commits on
  --static-deltas-only          with --delete-commit: delete only the static
                                deltas to COMMIT
  --keep-younger-than=DATE      keep each ref's commits back to the first one
                                older than DATE ("2024-01-31", "3 days ago",
                                "@1700000000")
  --only-branch=REF             prune only REF (repeatable); other refs keep
                                their whole history
  --retain-branch-depth=REF=N   keep N parents of REF (repeatable)
  --commit-only                 consider and delete commit objects only

Examples:
  repofs --repo=repo prune --refs-only --depth=0
  repofs --repo=repo prune --only-branch=os/main --depth=4`,
	setup: withFlags((*pruneFlags).register, runPrune),
}

type pruneFlags struct {
	noPrune, refsOnly, commitOnly, deltasOnly bool
	depth                                     int
	deleteCommit, keepYoungerThan             string
	onlyBranches, retainDepth                 []string
}

func (f *pruneFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.noPrune, "no-prune", false, "")
	fs.BoolVar(&f.refsOnly, "refs-only", false, "")
	fs.IntVar(&f.depth, "depth", -1, "")
	fs.StringVar(&f.deleteCommit, "delete-commit", "", "")
	fs.StringVar(&f.keepYoungerThan, "keep-younger-than", "", "")
	fs.BoolVar(&f.deltasOnly, "static-deltas-only", false, "")
	fs.StringArrayVar(&f.retainDepth, "retain-branch-depth", nil, "")
	fs.StringArrayVar(&f.onlyBranches, "only-branch", nil, "")
	fs.BoolVar(&f.commitOnly, "commit-only", false, "")
}

// options turns the flags into repo.PruneOptions, in ostree's words when
// a value is wrong.
func (f *pruneFlags) options() (repo.PruneOptions, error) {
	o := repo.PruneOptions{
		NoPrune: f.noPrune, RefsOnly: f.refsOnly, Depth: f.depth, CommitOnly: f.commitOnly,
		DeleteCommit: f.deleteCommit, StaticDeltasOnly: f.deltasOnly, OnlyBranches: f.onlyBranches,
	}
	if f.deleteCommit != "" && f.noPrune {
		return o, usagef("Cannot specify both --delete-commit and --no-prune")
	}
	if f.keepYoungerThan != "" {
		t, err := parseDate(f.keepYoungerThan, nowFunc())
		if err != nil {
			return o, err
		}
		o.KeepYoungerThan = t
	}
	if f.retainDepth != nil {
		o.RetainBranchDepth = map[string]int{}
	}
	for _, bd := range f.retainDepth {
		ref, ds, ok := strings.Cut(bd, "=")
		if !ok {
			return o, fmt.Errorf("Invalid value %s, must specify BRANCH=DEPTH", bd)
		}
		d, err := strconv.Atoi(ds)
		if err != nil {
			return o, fmt.Errorf("Invalid depth %s", ds)
		}
		o.RetainBranchDepth[ref] = d
	}
	return o, nil
}

func runPrune(e *env, f *pruneFlags, args []string) error {
	if len(args) != 0 {
		return usagef("prune takes no arguments")
	}
	o, err := f.options()
	if err != nil {
		return err
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	res, err := r.Prune(e.ctx, o)
	if err != nil {
		return err
	}
	printPruneResult(e, res, o)
	return nil
}

// printPruneResult prints what ostree prune prints.
func printPruneResult(e *env, res *repo.PruneResult, o repo.PruneOptions) {
	if o.CommitOnly {
		fmt.Fprintf(e.stdout, "Total (commit only) objects: %d\n", res.Total)
	} else {
		fmt.Fprintf(e.stdout, "Total objects: %d\n", res.Total)
	}
	switch {
	case res.Pruned == 0:
		fmt.Fprintf(e.stdout, "No unreachable objects\n")
	case o.NoPrune:
		fmt.Fprintf(e.stdout, "Would delete: %d objects, freeing %s\n", res.Pruned, repo.FormatSize(res.Freed))
	default:
		fmt.Fprintf(e.stdout, "Deleted %d objects, %s freed\n", res.Pruned, repo.FormatSize(res.Freed))
	}
}
