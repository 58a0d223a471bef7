package fusefs

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
)

// TestFusermountError maps go-fuse's words for a failed fusermount3, as
// go-fuse v2.12.1 forms them, to exit statuses and messages.
func TestFusermountError(t *testing.T) {
	exit3 := exec.Command("sh", "-c", "exit 3").Run()
	killed := exec.Command("sh", "-c", "kill -KILL $$").Run()
	other := errors.New("no such file or directory")
	for _, c := range []struct {
		name string
		in   error
		want string // "" for nil; else the error's text
	}{
		{"mount, exit 1", errors.New("fusermount exited with code 256\n"),
			"fusermount3 exited with status 1; its reason, if it gave one, went to stderr"},
		{"mount, exit 3", fmt.Errorf("fusermount exited with code %v\n", syscall.WaitStatus(3<<8)),
			"fusermount3 exited with status 3; its reason, if it gave one, went to stderr"},
		{"mount, killed", fmt.Errorf("fusermount exited with code %v\n", syscall.WaitStatus(9)),
			"fusermount3 was killed by signal 9 (killed); its reason, if it gave one, went to stderr"},
		{"unmount, exit 3", fmt.Errorf("%s (code %v)\n", "fusermount3: failed to unmount /m: Device or resource busy\n", exit3),
			"fusermount3 exited with status 3: fusermount3: failed to unmount /m: Device or resource busy"},
		{"unmount, killed", fmt.Errorf("%s (code %v)\n", "partial\n", killed),
			"fusermount3 was killed by signal 9 (killed): partial"},
		{"unmount, a warning", fmt.Errorf("%s (code %v)\n", "fusermount3: warning\n", nil), ""},
		{"other", other, other.Error()},
		{"nil", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := fusermountError(c.in)
			if c.want == "" {
				if got != nil {
					t.Fatalf("got %q, want nil", got)
				}
				return
			}
			if got == nil || got.Error() != c.want {
				t.Fatalf("got %v, want %q", got, c.want)
			}
		})
	}
	var fe *FusermountError
	if err := fusermountError(errors.New("fusermount exited with code 512\n")); !errors.As(err, &fe) || fe.Status != 2 {
		t.Errorf("errors.As: %#v", err)
	}
	if !isBusy(fusermountError(fmt.Errorf("%s (code %v)\n", "fusermount3: failed to unmount /m: Device or resource busy\n", exit3))) {
		t.Error("an unmount refused as busy is not seen as busy")
	}
}
