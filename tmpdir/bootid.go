package tmpdir

import (
	"fmt"
	"os"
	"strings"
)

const bootIDPath = "/proc/sys/kernel/random/boot_id"

// BootID returns the current boot's identifier, which the name of every
// Kind of directory carries, as in libostree: $OSTREE_BOOTID when set
// (ostree's own test override), otherwise the kernel's random boot_id.
func BootID() (string, error) {
	if v := os.Getenv("OSTREE_BOOTID"); v != "" {
		return v, nil
	}
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return "", fmt.Errorf("read boot id: %w (is /proc mounted?)", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" || strings.ContainsAny(id, "/\x00") {
		return "", fmt.Errorf("read boot id: %s holds %q, not a boot id", bootIDPath, id)
	}
	return id, nil
}
