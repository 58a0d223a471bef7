package integration

import (
	"fmt"
	"os"
	"path/filepath"
)

// benchTool is one implementation a benchmark runs.
type benchTool struct{ name, bin string }

// toolsWithOld is tools() with, between ostree and repofs, the older
// repofs binaries REPOFS_BENCH_OLD lists (colon-separated), so that a
// benchmark alternates all of them in the same run: ostree first, repofs
// last.
func toolsWithOld() []benchTool {
	var ts []benchTool
	for _, t := range tools() {
		ts = append(ts, benchTool{t.name, t.bin})
	}
	if old := os.Getenv("REPOFS_BENCH_OLD"); old != "" {
		var olds []benchTool
		for i, b := range filepath.SplitList(old) {
			olds = append(olds, benchTool{fmt.Sprintf("repofs-old#%d", i), b})
		}
		ts = append(ts[:1], append(olds, ts[1:]...)...)
	}
	return ts
}

// printRatioRows prints the row of repofs (the last tool) against ostree
// (the first), then one for each older binary between them.
func printRatioRows(name string, ts []benchTool, runs [][]result) {
	last := len(ts) - 1
	printRatioRow(name, [2][]result{runs[0], runs[last]})
	for k := 1; k < last; k++ {
		printRatioRow(fmt.Sprintf("  %s %s", name, ts[k].name), [2][]result{runs[0], runs[k]})
	}
}
