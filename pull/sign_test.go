package pull

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
	"github.com/repofs/repofs/repo/sign"
)

// signedSource is an archive repository with two signed commits on two
// refs, made by the real ostree (OpenPGP) or by repofs (ed25519).
type signedSource struct {
	path    string
	commits map[string]string // ref → commit
	srv     *httptest.Server
	// swap, when set, serves the .commitmeta of one commit for another:
	// signatures that are genuine but made over other bytes.
	swap map[string]string
}

func newSignedSource(t *testing.T, key *repotest.GPGKey) *signedSource {
	t.Helper()
	s := &signedSource{path: filepath.Join(t.TempDir(), "src"), commits: map[string]string{}, swap: map[string]string{}}
	repotest.Init(t, s.path, "archive")
	for i, ref := range []string{"signed/a", "signed/b", "unsigned"} {
		dir := t.TempDir()
		repotest.WriteTree(t, dir, []repotest.Entry{{Path: "file", Data: []byte(strings.Repeat(ref, i+1))}})
		var extra []string
		if key != nil && ref != "unsigned" {
			extra = []string{"--gpg-homedir=" + key.Home, "--gpg-sign=" + key.ID}
		}
		s.commits[ref] = repotest.Commit(t, s.path, ref, dir, repotest.CommitOpts{Subject: ref, Extra: extra})
	}
	args := []string{"--repo=" + s.path, "summary", "-u"}
	if key != nil {
		args = append(args, "--gpg-homedir="+key.Home, "--gpg-sign="+key.ID)
	}
	repotest.Ostree(t, args...)
	fsrv := http.FileServer(http.Dir(s.path))
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for from, to := range s.swap {
			if strings.HasSuffix(r.URL.Path, from[2:]+".commitmeta") {
				r.URL.Path = "/objects/" + to[:2] + "/" + to[2:] + ".commitmeta"
			}
		}
		fsrv.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// snapshot lists objects/ and refs/: a failed verification must leave
// both as they were.
func snapshot(t *testing.T, r *repo.Repo) string {
	t.Helper()
	var out []string
	for _, d := range []string{"objects", "refs"} {
		filepath.WalkDir(filepath.Join(r.Path(), d), func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				out = append(out, strings.TrimPrefix(p, r.Path()))
			}
			return nil
		})
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func signedClient(t *testing.T, url string, set ...repo.ConfigKey) *repo.Repo {
	t.Helper()
	r, err := repo.Init(filepath.Join(t.TempDir(), "client"), repo.ModeBareUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := AddRemote(context.Background(), r, "origin", url, AddOptions{Set: set}); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPullGPG(t *testing.T) {
	repotest.RequireOstree(t)
	good := repotest.NewGPGKey(t, "Good Key")
	other := repotest.NewGPGKey(t, "Other Key")
	s := newSignedSource(t, good)
	s.swap[s.commits["signed/b"]] = s.commits["signed/a"]

	expired := repotest.NewGPGKey(t, "Expired Key")
	sExpired := newSignedSource(t, expired)
	expired.Expire(t)
	revoked := repotest.NewGPGKey(t, "Revoked Key")
	sRevoked := newSignedSource(t, revoked)
	revoked.Revoke(t)

	read := func(p string) []byte { return repotest.ReadFile(t, p) }
	tests := []struct {
		name string
		src  *signedSource
		keys []byte // imported for the remote
		ref  string
		set  []repo.ConfigKey
		want []string // in the error; nil: success
	}{
		{"good signature", s, read(good.Public), "signed/a", nil, nil},
		{"good signature and summary", s, read(good.Public), "signed/a", []repo.ConfigKey{{Key: "gpg-verify-summary", Value: "true"}}, nil},
		{"unknown key", s, read(other.Public), "signed/a", nil, []string{"public key not found", good.ID}},
		{"no keys at all", s, nil, "signed/a", nil, []string{"no keys are trusted", "gpg-import"}},
		{"unsigned commit", s, read(good.Public), "unsigned", nil, []string{"no signatures found", "gpg-verify=false"}},
		{"signature over other bytes", s, read(good.Public), "signed/b", nil, []string{"BAD signature"}},
		{"expired key", sExpired, read(expired.Public), "signed/a", nil, []string{"key expired"}},
		{"revoked key", sRevoked, read(revoked.Public), "signed/a", nil, []string{"key revoked"}},
		{"summary signed by unknown key", s, read(other.Public), "unsigned", []repo.ConfigKey{{Key: "gpg-verify", Value: "false"}, {Key: "gpg-verify-summary", Value: "true"}}, []string{"summary", "public key not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := signedClient(t, tc.src.srv.URL, tc.set...)
			if tc.keys != nil {
				if _, err := ImportKeys(context.Background(), r, "origin", tc.keys, nil); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, r)
			_, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{tc.ref}})
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if c, err := r.ReadRef("origin", tc.ref); err != nil || c.String() != tc.src.commits[tc.ref] {
					t.Errorf("ref = %v %v, want %s", c, err, tc.src.commits[tc.ref])
				}
				c, _ := repo.ParseChecksum(tc.src.commits[tc.ref])
				if md, err := r.ReadCommitMeta(c); err != nil || md == nil {
					t.Errorf("the signatures were not stored with the commit: %v", err)
				}
				repotest.Ostree(t, "--repo="+r.Path(), "fsck")
				return
			}
			if err == nil {
				t.Fatal("pull succeeded")
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, ErrVerification) {
				t.Errorf("error %v does not match ErrVerification", err)
			}
			for _, w := range append(tc.want, "origin") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if after := snapshot(t, r); after != before {
				t.Errorf("a failed verification changed the repository:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			// Nothing unverified waits in staging for the next transaction.
			tx, err := r.Begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.src.commits {
				cs, _ := repo.ParseChecksum(c)
				if ok, _ := r.HasObject(cs, repo.ObjCommit); ok {
					t.Errorf("commit %s reached objects/ through a later transaction", c)
				}
			}
		})
	}
}

func TestPullGPGSummary(t *testing.T) {
	repotest.RequireOstree(t)
	key := repotest.NewGPGKey(t, "Summary Key")
	s := newSignedSource(t, key)
	set := []repo.ConfigKey{{Key: "gpg-verify-summary", Value: "true"}}

	// The summary changes after it was signed: the old summary.sig no
	// longer matches.
	sig, err := os.ReadFile(filepath.Join(s.path, "summary.sig"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	repotest.WriteTree(t, dir, []repotest.Entry{{Path: "new", Data: []byte("new")}})
	repotest.Commit(t, s.path, "signed/c", dir, repotest.CommitOpts{Extra: []string{"--gpg-homedir=" + key.Home, "--gpg-sign=" + key.ID}})
	repotest.Ostree(t, "--repo="+s.path, "summary", "-u") // unsigned: removes summary.sig
	time.Sleep(1100 * time.Millisecond)                   // so that it could be cached
	r := signedClient(t, s.srv.URL, set...)
	if _, err := ImportKeys(context.Background(), r, "origin", repotest.ReadFile(t, key.Public), nil); err != nil {
		t.Fatal(err)
	}
	_, err = Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"signed/a"}})
	if err == nil || !strings.Contains(err.Error(), "no summary.sig found") {
		t.Errorf("missing summary.sig: %v", err)
	}
	if err := os.WriteFile(filepath.Join(s.path, "summary.sig"), sig, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"signed/a"}})
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), "BAD signature") {
		t.Errorf("stale summary.sig: %v", err)
	}
	if _, err := r.ReadRef("origin", "signed/a"); !errors.Is(err, repo.ErrNotFound) {
		t.Errorf("a ref moved after a failed summary check: %v", err)
	}
	cache := filepath.Join(r.Path(), "tmp", "cache", "summaries", "origin")
	if _, err := os.Stat(cache); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a summary that failed verification was cached: %v", err)
	}
	// No summary at all: the refs/heads/ files are not signed, so the
	// pull must not fall back to them, even for a signed commit.
	os.Rename(filepath.Join(s.path, "summary"), filepath.Join(s.path, "summary.away"))
	_, err = Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"signed/a"}})
	if !errors.Is(err, ErrVerification) || errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "the remote has no summary") {
		t.Errorf("missing summary: %v", err)
	}
	if _, err := r.ReadRef("origin", "signed/a"); !errors.Is(err, repo.ErrNotFound) {
		t.Errorf("a ref moved with no summary to check: %v", err)
	}
	os.Rename(filepath.Join(s.path, "summary.away"), filepath.Join(s.path, "summary"))
	// Signed again, it passes; remote summary (FetchSummary) checks too.
	repotest.Ostree(t, "--repo="+s.path, "summary", "-u", "--gpg-homedir="+key.Home, "--gpg-sign="+key.ID)
	time.Sleep(1100 * time.Millisecond) // a Last-Modified of this very second is no validator: nothing would be cached
	if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"signed/c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := FetchSummary(context.Background(), r, "origin"); err != nil {
		t.Errorf("FetchSummary of a signed summary: %v", err)
	}
	// Pulled again unchanged, the .commitmeta is left as it is, not
	// staged and renamed over itself.
	pulled, err := r.ReadRef("origin", "signed/c")
	if err != nil {
		t.Fatal(err)
	}
	cm := filepath.Join(r.Path(), "objects", pulled.String()[:2], pulled.String()[2:]+".commitmeta")
	before, err := os.Stat(cm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{"signed/c"}}); err != nil {
		t.Fatal(err)
	}
	if after, err := os.Stat(cm); err != nil || !os.SameFile(before, after) {
		t.Errorf("an unchanged .commitmeta was replaced: %v", err)
	}
	// The verified summary is cached with its signature, as ostree keeps
	// them (it takes the cached summary when summary.sig is unchanged).
	for _, name := range []string{"summary", "summary.sig"} {
		want := repotest.ReadFile(t, filepath.Join(s.path, name))
		got, err := os.ReadFile(cache + strings.TrimPrefix(name, "summary"))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("cached %s: %d bytes (%v), want the server's %d", name, len(got), err, len(want))
		}
	}
}

// ed25519Source is an archive repository made by ostree whose commits and
// summary repofs signs with ed25519 (Debian's ostree has no ed25519).
func ed25519Source(t *testing.T, sk ed25519.PrivateKey) *signedSource {
	t.Helper()
	s := newSignedSource(t, nil)
	src, err := repo.Open(s.path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tx, err := src.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"signed/a", "signed/b"} {
		c, _ := repo.ParseChecksum(s.commits[ref])
		data, err := src.ReadMetadata(c, repo.ObjCommit)
		if err != nil {
			t.Fatal(err)
		}
		md, err := sign.AddSignature(nil, sign.KeyEd25519, sign.SignEd25519(sk, data))
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.WriteCommitMeta(c, md); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	err = src.UpdateSummarySigned(ctx, time.Now(), func(summary []byte) ([]byte, error) {
		md, err := sign.AddSignature(nil, sign.KeyEd25519, sign.SignEd25519(sk, summary))
		return gvariant.EncodeMetadata(md), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPullEd25519(t *testing.T) {
	repotest.RequireOstree(t)
	pk, sk, _ := ed25519.GenerateKey(rand.Reader)
	otherPK, _, _ := ed25519.GenerateKey(rand.Reader)
	s := ed25519Source(t, sk)
	s.swap[s.commits["signed/b"]] = s.commits["signed/a"]
	keyFile := filepath.Join(t.TempDir(), "trusted.ed25519")
	os.WriteFile(keyFile, []byte(sign.Ed25519PublicKeyString(otherPK)+"\n"+sign.Ed25519PublicKeyString(pk)+"\n"), 0o644)

	noGPG := repo.ConfigKey{Key: "gpg-verify", Value: "false"}
	on := repo.ConfigKey{Key: "sign-verify", Value: "true"}
	key := repo.ConfigKey{Key: "verification-ed25519-key", Value: sign.Ed25519PublicKeyString(pk)}
	tests := []struct {
		name string
		set  []repo.ConfigKey
		ref  string
		want []string
	}{
		{"good, inline key", []repo.ConfigKey{noGPG, on, key}, "signed/a", nil},
		{"good, key file and summary", []repo.ConfigKey{noGPG, {Key: "sign-verify", Value: "ed25519"}, {Key: "sign-verify-summary", Value: "true"}, {Key: "verification-ed25519-file", Value: keyFile}}, "signed/a", nil},
		{"wrong key", []repo.ConfigKey{noGPG, on, {Key: "verification-ed25519-key", Value: sign.Ed25519PublicKeyString(otherPK)}}, "signed/a", []string{"Signature couldn't be verified"}},
		{"missing signature", []repo.ConfigKey{noGPG, on, key}, "unsigned", []string{"without detached metadata"}},
		{"signature over other bytes", []repo.ConfigKey{noGPG, on, key}, "signed/b", []string{"Signature couldn't be verified"}},
		{"required type without keys", []repo.ConfigKey{noGPG, {Key: "sign-verify", Value: "ed25519"}}, "signed/a", []string{"No keys found", "verification-ed25519-key"}},
		{"an empty type list", []repo.ConfigKey{noGPG, {Key: "sign-verify", Value: ";"}, key}, "unsigned", []string{"sign-verify=; names no signature type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := signedClient(t, s.srv.URL, tc.set...)
			before := snapshot(t, r)
			_, err := Pull(context.Background(), r, Options{Remote: "origin", Refs: []string{tc.ref}})
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				// Check the stored signature independently, with the
				// standard library alone.
				c, _ := repo.ParseChecksum(s.commits[tc.ref])
				data, _ := r.ReadMetadata(c, repo.ObjCommit)
				md, err := r.ReadCommitMeta(c)
				if err != nil {
					t.Fatal(err)
				}
				v, ok := md.Lookup("ostree.sign.ed25519")
				if !ok || v.Type != "aay" {
					t.Fatalf("no ostree.sign.ed25519 aay in the stored commitmeta: %v", md)
				}
				val, _ := v.Value()
				if len(val.Elems) != 1 || !ed25519.Verify(pk, data, val.Elems[0].Bytes) {
					t.Errorf("the stored signature does not verify with crypto/ed25519")
				}
				return
			}
			if err == nil {
				t.Fatal("pull succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if after := snapshot(t, r); after != before {
				t.Errorf("a failed verification changed the repository:\n%s\n---\n%s", before, after)
			}
		})
	}
}

func TestImportKeys(t *testing.T) {
	k1 := repotest.NewGPGKey(t, "One")
	k2 := repotest.NewGPGKey(t, "Two")
	r := signedClient(t, "http://example.com/")
	ctx := context.Background()
	if n, err := ImportKeys(ctx, r, "origin", repotest.ReadFile(t, k1.Public), nil); err != nil || n != 1 {
		t.Fatalf("import: %d %v", n, err)
	}
	both := append(repotest.ReadFile(t, k1.Public), repotest.ReadFile(t, k2.Public)...)
	if _, err := ImportKeys(ctx, r, "origin", both, []string{"DEADBEEF"}); err == nil {
		t.Error("importing a key ID that is not in the input must fail")
	}
	if n, err := ImportKeys(ctx, r, "origin", both, []string{k2.ID}); err != nil || n != 1 {
		t.Fatalf("import by ID: %d %v", n, err)
	}
	// Re-importing replaces, not duplicates.
	if _, err := ImportKeys(ctx, r, "origin", both, nil); err != nil {
		t.Fatal(err)
	}
	kr, _, err := TrustedKeys(r, "origin")
	if err != nil {
		t.Fatal(err)
	}
	if kr.Len() != 2 {
		t.Errorf("keyring has %d keys, want 2", kr.Len())
	}
	// gpg reads the keyring repofs wrote.
	out := repotest.GPG(t, k1.Home, "--no-default-keyring", "--keyring", KeyringPath(r, "origin"), "--list-keys", "--with-colons")
	if !strings.Contains(out, k1.Fingerprint) || !strings.Contains(out, k2.Fingerprint) {
		t.Errorf("gpg does not list both keys of %s:\n%s", KeyringPath(r, "origin"), out)
	}
	if _, err := ImportKeys(ctx, r, "nope", both, nil); !errors.Is(err, ErrNoRemote) {
		t.Errorf("import for a missing remote: %v", err)
	}
	if err := DeleteRemote(ctx, r, "origin", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(KeyringPath(r, "origin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remote delete left the keyring: %v", err)
	}
}

// TestImportKeysKeepsRevocations: importing an older export of a revoked
// key (say, a key file shipped before the revocation) must not un-revoke
// it, for repofs nor for gpg reading the same keyring; key IDs must be
// real key IDs.
func TestImportKeysKeepsRevocations(t *testing.T) {
	k := repotest.NewGPGKey(t, "Revoked Later")
	data := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(data, []byte("signed before the revocation"), 0o644); err != nil {
		t.Fatal(err)
	}
	repotest.GPG(t, k.Home, "--detach-sign", "--output", data+".sig", data)
	before := repotest.ReadFile(t, k.Public)
	k.Revoke(t)
	r := signedClient(t, "http://example.com/")
	ctx := context.Background()
	for _, export := range [][]byte{repotest.ReadFile(t, k.Public), before} {
		if _, err := ImportKeys(ctx, r, "origin", export, nil); err != nil {
			t.Fatal(err)
		}
	}
	kr, _, err := TrustedKeys(r, "origin")
	if err != nil {
		t.Fatal(err)
	}
	res := kr.VerifyGPG(repotest.ReadFile(t, data), [][]byte{repotest.ReadFile(t, data+".sig")}, time.Now())
	if err := sign.RequireValidGPG(res); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("a signature by the revoked key, after re-importing its old export: %v", err)
	}
	out := repotest.GPG(t, k.Home, "--no-default-keyring", "--keyring", KeyringPath(r, "origin"), "--list-keys", "--with-colons")
	if !strings.Contains(out, "\npub:r:") && !strings.HasPrefix(out, "pub:r:") {
		t.Errorf("gpg does not see the key revoked:\n%s", out)
	}
	for _, id := range []string{"", "1", "XYZXYZXY", strings.Repeat("A", 12)} {
		if _, err := ImportKeys(ctx, r, "origin", before, []string{id}); err == nil || !strings.Contains(err.Error(), "hex digits") {
			t.Errorf("key ID %q: %v", id, err)
		}
	}
	if n, err := ImportKeys(ctx, r, "origin", before, []string{"0x" + k.Fingerprint[32:], k.Fingerprint}); err != nil || n != 1 {
		t.Errorf("one key by its short ID with 0x and its fingerprint: %d imported, %v", n, err)
	}
}

// TestTrustedKeysSources: the keys `show` checks with come from where the
// pull takes them: a remote with a keyring of its own does not trust the
// global one, one without does; one with ed25519 keys of its own does not
// trust the system's, one without does; gathering every remote's reads
// the global keyring and the system's keys once, not once per remote.
func TestTrustedKeysSources(t *testing.T) {
	own := repotest.NewGPGKey(t, "Own Key")
	global := repotest.NewGPGKey(t, "Global Key")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "global.gpg"), repotest.ReadFile(t, global.Public), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OSTREE_GPG_HOME", dir)
	sysPK, _, _ := ed25519.GenerateKey(rand.Reader)
	ownPK, _, _ := ed25519.GenerateKey(rand.Reader)
	base := t.TempDir()
	if err := os.WriteFile(filepath.Join(base, "trusted.ed25519"), []byte(sign.Ed25519PublicKeyString(sysPK)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ed25519SystemDirs = []string{base}
	t.Cleanup(func() { ed25519SystemDirs = nil })
	r := signedClient(t, "http://example.com/")
	ctx := context.Background()
	edKey := repo.ConfigKey{Key: "verification-ed25519-key", Value: sign.Ed25519PublicKeyString(ownPK)}
	if err := AddRemote(ctx, r, "other", "http://example.org/", AddOptions{Set: []repo.ConfigKey{edKey}}); err != nil {
		t.Fatal(err)
	}
	if err := AddRemote(ctx, r, "third", "http://example.net/", AddOptions{}); err != nil {
		t.Fatal(err)
	}
	// gpgKeys checks how many OpenPGP keys each remote trusts.
	gpgKeys := func(stage string, want map[string]int) {
		t.Helper()
		for remote, n := range want {
			kr, _, err := TrustedKeys(r, remote)
			if err != nil {
				t.Fatal(err)
			}
			if kr.Len() != n {
				t.Errorf("%s: remote %q trusts %d OpenPGP keys, want %d", stage, remote, kr.Len(), n)
			}
		}
	}
	for _, tc := range []struct {
		remote string
		want   []ed25519.PublicKey
	}{{"origin", []ed25519.PublicKey{sysPK}}, {"other", []ed25519.PublicKey{ownPK}}, {"", []ed25519.PublicKey{ownPK, sysPK}}} {
		_, ed, err := TrustedKeys(r, tc.remote)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(ed.Trusted, tc.want, func(a, b ed25519.PublicKey) bool { return a.Equal(b) }) {
			t.Errorf("remote %q trusts ed25519 keys %v, want %v", tc.remote, ed.Trusted, tc.want)
		}
	}
	gpgKeys("no keyrings", map[string]int{"origin": 1, "other": 1, "": 1})
	if _, err := ImportKeys(ctx, r, "origin", repotest.ReadFile(t, own.Public), nil); err != nil {
		t.Fatal(err)
	}
	gpgKeys("origin with a keyring", map[string]int{"origin": 1, "other": 1, "": 2})
}
