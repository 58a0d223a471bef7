package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo/sign"
)

func writeFile(t *testing.T, p, s string) string {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := repofs(t, args...)
	if code != 0 {
		t.Fatalf("repofs %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

func TestSignEd25519Commands(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "repo")
	r := "--repo=" + src
	mustRun(t, r, "init", "--mode=archive")
	tree := filepath.Join(dir, "tree")
	repotest.WriteTree(t, tree, []repotest.Entry{{Path: "a", Data: []byte("a")}})

	pk1, sk1, _ := ed25519.GenerateKey(rand.Reader)
	pk2, sk2, _ := ed25519.GenerateKey(rand.Reader)
	sec := writeFile(t, filepath.Join(dir, "secret.ed25519"), sign.Ed25519SecretKeyString(sk1)+"\n")
	pub := writeFile(t, filepath.Join(dir, "trusted.ed25519"), sign.Ed25519PublicKeyString(pk1)+"\n")

	commit := strings.TrimSpace(mustRun(t, r, "commit", "-b", "main", "--sign-from-file="+sec, tree))
	out := mustRun(t, r, "sign", "--verify", "--keys-file="+pub, "main")
	if !strings.Contains(out, "Signature verified successfully") {
		t.Errorf("sign --verify: %q", out)
	}
	// The other key did not sign it.
	if _, errs, code := repofs(t, r, "sign", "--verify", "main", sign.Ed25519PublicKeyString(pk2)); code == 0 || !strings.Contains(errs, "couldn't be verified") {
		t.Errorf("verify with the wrong key: exit %d %q", code, errs)
	}
	// A second signature, by KEY argument, on the stored commit.
	mustRun(t, r, "sign", commit, sign.Ed25519SecretKeyString(sk2))
	mustRun(t, r, "sign", "--verify", "main", sign.Ed25519PublicKeyString(pk2))
	mustRun(t, r, "sign", "main", sign.Ed25519SecretKeyString(sk2)) // idempotent
	mustRun(t, r, "remote", "add", "--no-gpg-verify", "--set=verification-ed25519-key="+sign.Ed25519PublicKeyString(pk1), "self", "file://"+src)
	out = mustRun(t, r, "show", "main")
	if !strings.Contains(out, "Found 2 ed25519 signatures:") || strings.Count(out, "Good ed25519 signature from key "+sign.Ed25519PublicKeyString(pk1)) != 1 ||
		!strings.Contains(out, "Can't verify ed25519 signature") {
		t.Errorf("show:\n%s", out)
	}
	// A signed summary, pulled with sign-verify-summary by a second repo.
	mustRun(t, r, "summary", "-u", "--sign="+sign.Ed25519SecretKeyString(sk1))
	client := "--repo=" + filepath.Join(dir, "client")
	mustRun(t, client, "init", "--mode=bare-user")
	mustRun(t, client, "remote", "add", "--no-gpg-verify", "--set=sign-verify=true", "--set=sign-verify-summary=true",
		"--set=verification-ed25519-file="+pub, "origin", "file://"+src)
	mustRun(t, client, "pull", "origin", "main")
	// Without summary.sig the same pull is refused.
	mustRun(t, r, "summary", "-u")
	if _, errs, code := repofs(t, client, "pull", "origin", "main"); code == 0 || !strings.Contains(errs, "no summary.sig") {
		t.Errorf("pull without summary.sig: exit %d %q", code, errs)
	}
	for _, bad := range [][]string{
		{"commit", "-b", "x", "--sign=notbase64!", tree},
		{"commit", "-b", "x", "--sign-type=rsa", "--sign=" + sign.Ed25519SecretKeyString(sk1), tree},
		{"sign", "main"},
	} {
		if _, errs, code := repofs(t, append([]string{r}, bad...)...); code != exitUsage {
			t.Errorf("%v: exit %d %q, want a usage error", bad, code, errs)
		}
	}
}

// TestGPGSignInterop: repofs signs with OpenPGP, ostree verifies (show,
// pull with gpg-verify and gpg-verify-summary), and repofs show prints
// the signatures exactly as ostree show does.
func TestGPGSignInterop(t *testing.T) {
	repotest.RequireOstree(t)
	key := repotest.NewGPGKey(t, "Repofs Signer")
	dir := t.TempDir()
	src := filepath.Join(dir, "repo")
	r := "--repo=" + src
	mustRun(t, r, "init", "--mode=archive")
	tree := filepath.Join(dir, "tree")
	repotest.WriteTree(t, tree, []repotest.Entry{{Path: "a", Data: []byte("a")}, {Path: "d/b", Data: []byte("b")}})
	mustRun(t, r, "commit", "-b", "signed", "--timestamp=2024-01-01T00:00:00Z", "--gpg-sign="+key.ID, "--gpg-keys-file="+key.Secret, tree)
	mustRun(t, r, "commit", "-b", "unsigned", "--timestamp=2024-01-01T00:00:00Z", "-s", "x", tree)
	mustRun(t, r, "commit", "-b", "later", "--timestamp=2024-01-01T00:00:00Z", "-s", "later", tree)
	mustRun(t, r, "gpg-sign", "--gpg-keys-file="+key.Secret, "later", key.ID)
	mustRun(t, r, "summary", "-u", "--gpg-sign="+key.ID, "--gpg-keys-file="+key.Secret)

	// repofs show and ostree show agree, signatures included, when both
	// check against the same global keyring.
	gh := filepath.Join(dir, "trusted.gpg.d")
	os.MkdirAll(gh, 0o755)
	os.WriteFile(filepath.Join(gh, "key.gpg"), repotest.ReadFile(t, key.Public), 0o644)
	t.Setenv("OSTREE_GPG_HOME", gh)
	for _, ref := range []string{"signed", "later"} {
		want := repotest.Ostree(t, r, "show", ref)
		got := mustRun(t, r, "show", ref)
		if got != want || !strings.Contains(got, "Good signature from \"Repofs Signer <repofs.signer@example.com>\"") {
			t.Errorf("show %s:\n--- ostree\n%s--- repofs\n%s", ref, want, got)
		}
	}
	repotest.Ostree(t, r, "fsck")

	// ostree pulls it with verification on.
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	t.Cleanup(srv.Close)
	client := filepath.Join(dir, "ostree-client")
	repotest.Init(t, client, "bare-user")
	repotest.Ostree(t, "--repo="+client, "remote", "add", "--gpg-import="+key.Public, "--set=gpg-verify-summary=true", "origin", srv.URL)
	repotest.Ostree(t, "--repo="+client, "pull", "origin", "signed", "later")
	repotest.Ostree(t, "--repo="+client, "fsck")
	if _, errs, code := repotest.RunOstree(t, "--repo="+client, "pull", "origin", "unsigned"); code == 0 || !strings.Contains(errs, "GPG") {
		t.Errorf("ostree pulled an unsigned commit with gpg-verify on: %q", errs)
	}

	// A repofs client whose remote and keyring repofs configured; ostree
	// reads that configuration too.
	rc := filepath.Join(dir, "repofs-client")
	mustRun(t, "--repo="+rc, "init", "--mode=bare-user")
	out := mustRun(t, "--repo="+rc, "remote", "add", "--gpg-import="+key.Public, "--set=gpg-verify-summary=true", "origin", srv.URL)
	if out != "Imported 1 GPG key to remote \"origin\"\n" {
		t.Errorf("remote add --gpg-import printed %q", out)
	}
	mustRun(t, "--repo="+rc, "pull", "origin", "signed")
	repotest.Ostree(t, "--repo="+rc, "pull", "origin", "later")
	if _, errs, code := repofs(t, "--repo="+rc, "pull", "origin", "unsigned"); code == 0 || !strings.Contains(errs, "no signatures found") {
		t.Errorf("repofs pulled an unsigned commit: exit %d %q", code, errs)
	}
	if _, errs, code := repofs(t, "--repo="+rc, "remote", "add", "--gpg-import="+tree+"/a", "x", srv.URL); code == 0 || !strings.Contains(errs, "OpenPGP") {
		t.Errorf("--gpg-import of a non-key: exit %d %q", code, errs)
	}
	if out, _, _ := repofs(t, "--repo="+rc, "remote", "list"); strings.Contains(out, "x\n") {
		t.Error("a failed --gpg-import left the remote configured")
	}
	// An unknown key ID and a homedir without secring.gpg fail clearly.
	if _, errs, code := repofs(t, r, "gpg-sign", "--gpg-keys-file="+key.Secret, "signed", "0123456789ABCDEF"); code == 0 || !strings.Contains(errs, "not found") {
		t.Errorf("gpg-sign with an unknown key: exit %d %q", code, errs)
	}
	if _, errs, code := repofs(t, r, "gpg-sign", "--gpg-homedir="+key.Home, "signed", key.ID); code == 0 || !strings.Contains(errs, "--export-secret-keys") {
		t.Errorf("gpg-sign from a GnuPG 2 homedir: exit %d %q", code, errs)
	}
}
