package tmpdir

import (
	"fmt"
	"strings"
)

// Kind is what a locked directory under tmp/ is for. Its name is
// "<kind>-<boot id>-XXXXXX", as libostree names it, so that repofs and
// ostree reuse and expire each other's directories.
type Kind string

const (
	// Staging holds a transaction's objects until they are published.
	Staging Kind = "staging"
	// Fetcher holds a pull's partial downloads, for the next pull to
	// resume.
	Fetcher Kind = "fetcher"
	// Pending holds what a process finished and left, unlocked, for a
	// later one to publish (a checkout's new uncompressed-objects cache
	// entries). Allocate never reuses one: it is another process's
	// finished work, taken only by Claim. ostree knows no such kind and
	// expires it by age, as any other entry of tmp/.
	Pending Kind = "pending"
)

// kinds are the directories Cleanup treats as belonging to one boot.
var kinds = []Kind{Staging, Fetcher, Pending}

// prefix is the start of the names of k's directories of one boot.
func (k Kind) prefix(bootID string) (string, error) {
	if bootID == "" || strings.ContainsAny(bootID, "/\x00") {
		return "", fmt.Errorf("invalid boot id %q", bootID)
	}
	return string(k) + "-" + bootID + "-", nil
}

// isKindDir reports whether name starts as the directories of one of
// kinds do.
func isKindDir(name string) bool {
	for _, k := range kinds {
		if strings.HasPrefix(name, string(k)+"-") {
			return true
		}
	}
	return false
}

// bootOf extracts <boot> from "<kind>-<boot>-XXXXXX"; "" for any other
// name.
func bootOf(name string) string {
	for _, k := range kinds {
		if rest, ok := strings.CutPrefix(name, string(k)+"-"); ok {
			if i := strings.LastIndexByte(rest, '-'); i >= 0 {
				return rest[:i]
			}
		}
	}
	return ""
}
