package repotest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// GPGKey is a throwaway OpenPGP key made by the real gpg in its own home
// directory, for tests that sign with ostree and verify with repofs or the
// other way round.
type GPGKey struct {
	Home        string // GNUPGHOME holding the key (ostree --gpg-homedir)
	ID          string // 16 hex digits
	Fingerprint string
	Public      string // file: gpg --export (binary)
	Secret      string // file: gpg --export-secret-keys (binary, no passphrase)
}

// RequireGPG skips (loudly; fails under $CI) when gpg is missing.
func RequireGPG(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		msg := "gpg not found in $PATH; OpenPGP interop test NOT RUN (apt-get install gnupg)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("SKIP: " + msg)
	}
}

// GPG runs gpg with GNUPGHOME=home and returns its stdout.
func GPG(t testing.TB, home string, args ...string) string {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// NewGPGKey makes an ed25519 signing key named name (user ID "name
// <name@example.com>") in a fresh home directory, and exports it. The
// home's gpg-agent is stopped when the test ends.
func NewGPGKey(t testing.TB, name string) *GPGKey {
	t.Helper()
	RequireGPG(t)
	// gpg-agent's socket path must stay short: use a short directory.
	home, err := os.MkdirTemp("", "gpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	os.Chmod(home, 0o700)
	GPG(t, home, "--quick-gen-key", name+" <"+strings.ToLower(strings.ReplaceAll(name, " ", "."))+"@example.com>", "ed25519", "sign", "never")
	k := &GPGKey{Home: home}
	for _, line := range strings.Split(GPG(t, home, "--list-secret-keys", "--with-colons"), "\n") {
		f := strings.Split(line, ":")
		switch {
		case f[0] == "sec" && len(f) > 4:
			k.ID = f[4]
		case f[0] == "fpr" && len(f) > 9 && k.Fingerprint == "":
			k.Fingerprint = f[9]
		}
	}
	if k.ID == "" || k.Fingerprint == "" {
		t.Fatal("gpg made no key")
	}
	k.Public = filepath.Join(home, "public.gpg")
	k.Secret = filepath.Join(home, "secret.gpg")
	GPG(t, home, "--output", k.Public, "--export", k.ID)
	GPG(t, home, "--output", k.Secret, "--export-secret-keys", k.ID)
	return k
}

// Expire sets the key to expire in one second, waits until it has, and
// re-exports the public key.
func (k *GPGKey) Expire(t testing.TB) {
	t.Helper()
	GPG(t, k.Home, "--quick-set-expire", k.Fingerprint, "seconds=1")
	time.Sleep(2 * time.Second)
	GPG(t, k.Home, "--output", k.Public, "--export", k.ID)
}

// Revoke imports the key's stored revocation certificate and re-exports
// the public key, which then carries the revocation.
func (k *GPGKey) Revoke(t testing.TB) {
	t.Helper()
	rev := filepath.Join(k.Home, "openpgp-revocs.d", k.Fingerprint+".rev")
	data, err := os.ReadFile(rev)
	if err != nil {
		t.Fatal(err)
	}
	// gpg guards the stored certificate with a leading ':' on its armor line.
	fixed := bytes.Replace(data, []byte(":-----BEGIN PGP PUBLIC KEY BLOCK-----"), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"), 1)
	p := filepath.Join(k.Home, "revoke.asc")
	if err := os.WriteFile(p, fixed, 0o600); err != nil {
		t.Fatal(err)
	}
	GPG(t, k.Home, "--import", p)
	GPG(t, k.Home, "--output", k.Public, "--export", k.ID)
}

// ReadFile returns a file's bytes or fails the test.
func ReadFile(t testing.TB, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
