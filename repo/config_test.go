package repo

import "testing"

// TestConfigGet: of a key given twice (in a group, or in a group given
// twice), the last counts, as GLib's key files (ostree) read it.
func TestConfigGet(t *testing.T) {
	c, err := ParseConfig([]byte("[core]\nmode=bare\nfsync=true\nfsync=false\n[remote \"a\"]\nurl=x\n[core]\nmode=archive-z2\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ group, key, want string }{
		{"core", "fsync", "false"},
		{"core", "mode", "archive-z2"},
		{`remote "a"`, "url", "x"},
	} {
		if v, ok := c.Get(tc.group, tc.key); !ok || v != tc.want {
			t.Errorf("[%s] %s = %q %v, want %q", tc.group, tc.key, v, ok, tc.want)
		}
	}
	c.Set("core", "fsync", "true")
	if v, _ := c.Get("core", "fsync"); v != "true" {
		t.Errorf("after Set, fsync = %q", v)
	}
	if _, ok := c.Get("core", "nope"); ok {
		t.Error("a missing key was found")
	}
}
