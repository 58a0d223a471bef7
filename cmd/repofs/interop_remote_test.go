package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

func TestInteropRemoteAdd(t *testing.T) {
	repotest.RequireOstree(t)
	const key = "O3aEcXGNsPsHpbmaDyT5PrbMFtz1mV2wnvDOXbQEgbQ="
	cases := []cliCase{
		{"remote", "add", "--sign-verify=ed25519=inline:" + key, "o", "http://example.com/repo"},
		{"remote", "add", "--sign-verify=ed25519=file:/etc/keys/k", "--sign-verify=ed25519=inline:" + key, "o", "http://example.com/repo", "a", "b"},
		{"remote", "add", "--no-sign-verify", "o", "http://example.com/repo"},
		{"remote", "add", "--no-sign-verify", "--no-gpg-verify", "--set=gpg-verify-summary=true", "o", "http://example.com/repo"},
		{"remote", "add", "--set=gpg-verify=true", "--no-gpg-verify", "--sign-verify=ed25519=inline:" + key, "o", "http://example.com/repo"},
		{"remote", "add", "--no-sign-verify", "--sign-verify=ed25519=inline:" + key, "o", "http://example.com/repo"},
		{"remote", "add", "--sign-verify=ed25519", "o", "http://example.com/repo"},
		{"remote", "add", "--sign-verify=rsa=inline:x", "o", "http://example.com/repo"},
		{"remote", "add", "--sign-verify=ed25519=url:x", "o", "http://example.com/repo"},
	}
	// The ostree here is built without libsodium: it knows only the
	// "dummy" signer, which takes the same path through remote add. ostree
	// runs with dummy where repofs runs with ed25519.
	for _, c := range cases {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		repotest.Init(t, a, "archive")
		repotest.Init(t, b, "archive")
		oc := make([]string, len(c))
		for i, arg := range c {
			oc[i] = strings.ReplaceAll(arg, "=ed25519=", "=dummy=")
		}
		want, wantErr, wantCode := repotest.RunOstree(t, append([]string{"--repo=" + a}, oc...)...)
		got, gotErr, gotCode := repofs(t, append([]string{"--repo=" + b}, c...)...)
		if got != want || gotCode != wantCode || errorLine(gotErr) != errorLine(wantErr) {
			t.Errorf("%q: repofs %q %d %q, ostree %q %d %q", c, got, gotCode, gotErr, want, wantCode, wantErr)
		}
		ca, _ := os.ReadFile(filepath.Join(a, "config"))
		ca = []byte(strings.ReplaceAll(string(ca), "dummy", "ed25519"))
		cb, _ := os.ReadFile(filepath.Join(b, "config"))
		if string(ca) != string(cb) {
			t.Errorf("%q: config\n--- ostree\n%s--- repofs\n%s", c, ca, cb)
		}
	}
	// delete --if-exists of a remote that is not there, and of one that is.
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	repotest.Init(t, a, "bare")
	repotest.Init(t, b, "bare")
	sameWrite(t, a, b, []string{"remote", "delete", "--if-exists", "nope"}, []string{"remote", "list"})
	sameWrite(t, a, b, []string{"remote", "delete", "nope"})
	sameWrite(t, a, b, cases[2])
	sameWrite(t, a, b, []string{"remote", "delete", "--if-exists", "o"}, []string{"remote", "list"})
}

func TestInteropRemoteGPGListKeys(t *testing.T) {
	repotest.RequireOstree(t)
	good := repotest.NewGPGKey(t, "Good Signer")
	other := repotest.NewGPGKey(t, "Other.Person")
	revoked := repotest.NewGPGKey(t, "Revoked")
	revoked.Revoke(t)
	// A key that expires, with a subkey that expires too.
	repotest.GPG(t, other.Home, "--quick-set-expire", other.Fingerprint, "2y")
	repotest.GPG(t, other.Home, "--quick-add-key", other.Fingerprint, "ed25519", "sign", "1y")
	repotest.GPG(t, other.Home, "--output", other.Public, "--export", other.ID)
	p := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, p, "archive")
	for _, name := range []string{"one", "two", "none"} {
		repotest.Ostree(t, "--repo="+p, "remote", "add", name, "http://example.com/"+name)
	}
	repotest.Ostree(t, "--repo="+p, "remote", "gpg-import", "one", "-k", good.Public, "-k", other.Public)
	repotest.Ostree(t, "--repo="+p, "remote", "gpg-import", "two", "-k", revoked.Public)
	if out, _, _ := repofs(t, "--repo="+p, "remote", "gpg-list-keys", "one"); !strings.Contains(out, "  Subkey: ") || !strings.Contains(out, "    Expires: ") {
		t.Errorf("the listing lacks the subkey or its expiry:\n%s", out)
	}
	for _, c := range []cliCase{
		{"remote", "gpg-list-keys", "one"},
		{"remote", "gpg-list-keys", "two"},
		{"remote", "gpg-list-keys", "none"},
		{"remote", "gpg-list-keys"},
		{"remote", "gpg-list-keys", "nope"},
	} {
		sameCLI(t, p, c...)
	}
}
