package sign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/repofs/repofs/repo/gvariant"
)

func TestSignaturesRoundTrip(t *testing.T) {
	md := gvariant.Metadata{{Key: "foo", Value: gvariant.StringVariant("bar")}}
	md, err := AddSignature(md, KeyEd25519, bytes.Repeat([]byte{1}, 64))
	if err != nil {
		t.Fatal(err)
	}
	md, err = AddSignature(md, KeyEd25519, bytes.Repeat([]byte{2}, 64))
	if err != nil {
		t.Fatal(err)
	}
	md, _ = AddSignature(md, KeyEd25519, bytes.Repeat([]byte{2}, 64)) // duplicate: kept once
	md, _ = AddSignature(md, KeyGPG, []byte("pgp"))
	back, err := gvariant.DecodeMetadata(gvariant.EncodeMetadata(md))
	if err != nil {
		t.Fatal(err)
	}
	if back[0].Key != "foo" {
		t.Errorf("existing entries must keep their place, got %v", back)
	}
	sigs, err := Signatures(back, KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || sigs[0][0] != 1 || sigs[1][0] != 2 {
		t.Errorf("ed25519 signatures = %v", sigs)
	}
	if g, _ := Signatures(back, KeyGPG); len(g) != 1 || string(g[0]) != "pgp" {
		t.Errorf("gpg signatures = %q", g)
	}
	if _, err := Signatures(gvariant.Metadata{{Key: KeyGPG, Value: gvariant.StringVariant("x")}}, KeyGPG); err == nil {
		t.Error("a signature entry of the wrong type must be an error")
	}
}

// TestDecodeDetached: the signatures of detached metadata bytes, none in
// the zero Detached, and an error for bytes not in normal form.
func TestDecodeDetached(t *testing.T) {
	md, _ := AddSignature(nil, KeyGPG, []byte("pgp"))
	data := gvariant.EncodeMetadata(md)
	d, err := DecodeDetached(data)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := d.Signatures(KeyGPG); err != nil || len(g) != 1 || string(g[0]) != "pgp" {
		t.Errorf("gpg signatures = %q, %v", g, err)
	}
	if e, err := d.Signatures(KeyEd25519); err != nil || e != nil {
		t.Errorf("ed25519 signatures = %q, %v; want none", e, err)
	}
	if g, err := (Detached{}).Signatures(KeyGPG); err != nil || g != nil {
		t.Errorf("zero Detached: %q, %v; want none", g, err)
	}
	if _, err := DecodeDetached(data[:len(data)-1]); err == nil {
		t.Error("truncated detached metadata decoded")
	}
}

func newEd25519(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pk, sk
}

func TestEd25519(t *testing.T) {
	pk1, sk1 := newEd25519(t)
	pk2, sk2 := newEd25519(t)
	data := []byte("commit bytes")
	sig1 := SignEd25519(sk1, data)
	if !ed25519.Verify(pk1, data, sig1) {
		t.Fatal("stdlib does not accept our signature")
	}
	tests := []struct {
		name    string
		keys    Ed25519Keys
		data    []byte
		sigs    [][]byte
		want    error
		wantKey ed25519.PublicKey
	}{
		{"good", Ed25519Keys{Trusted: []ed25519.PublicKey{pk2, pk1}}, data, [][]byte{sig1}, nil, pk1},
		{"second signature good", Ed25519Keys{Trusted: []ed25519.PublicKey{pk2}}, data, [][]byte{sig1, SignEd25519(sk2, data)}, nil, pk2},
		{"wrong key", Ed25519Keys{Trusted: []ed25519.PublicKey{pk2}}, data, [][]byte{sig1}, ErrBadSignature, nil},
		{"tampered", Ed25519Keys{Trusted: []ed25519.PublicKey{pk1}}, []byte("commit bytez"), [][]byte{sig1}, ErrBadSignature, nil},
		{"revoked", Ed25519Keys{Trusted: []ed25519.PublicKey{pk1}, Revoked: []ed25519.PublicKey{pk1}}, data, [][]byte{sig1}, ErrBadSignature, nil},
		{"none", Ed25519Keys{Trusted: []ed25519.PublicKey{pk1}}, data, nil, ErrNoSignatures, nil},
		{"no keys", Ed25519Keys{}, data, [][]byte{sig1}, ErrBadSignature, nil},
		{"short signature", Ed25519Keys{Trusted: []ed25519.PublicKey{pk1}}, data, [][]byte{sig1[:10]}, ErrBadSignature, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.keys.VerifyEd25519(tc.data, tc.sigs)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil && !bytes.Equal(k, tc.wantKey) {
				t.Errorf("verified with %x, want %x", k, tc.wantKey)
			}
		})
	}
}

func TestEd25519KeyFiles(t *testing.T) {
	pk1, sk1 := newEd25519(t)
	pk2, _ := newEd25519(t)
	pub := Ed25519PublicKeyString(pk1) + "\n\n  " + Ed25519PublicKeyString(pk2) + "  \nnot-a-key\n"
	keys, err := ParseEd25519PublicKeys([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !bytes.Equal(keys[0], pk1) || !bytes.Equal(keys[1], pk2) {
		t.Fatalf("keys = %x", keys)
	}
	if _, err := ParseEd25519PublicKeys([]byte("bm90IGEga2V5\n")); err == nil || !strings.Contains(err.Error(), "expected 32 bytes, got 9") {
		t.Errorf("a file without keys: err = %v", err)
	}
	sks, err := ParseEd25519SecretKeys([]byte(Ed25519SecretKeyString(sk1) + "\n"))
	if err != nil || len(sks) != 1 || !bytes.Equal(sks[0], sk1) {
		t.Fatalf("secret keys = %x, %v", sks, err)
	}
	bad := append([]byte(nil), sk1...)
	bad[40] ^= 1
	if _, err := ParseEd25519SecretKey(Ed25519SecretKeyString(bad)); err == nil {
		t.Error("a secret key whose public half does not match its seed must be refused")
	}
	if _, err := ParseEd25519PublicKey("AAAA"); err == nil {
		t.Error("a 3-byte public key must be refused")
	}

	base := t.TempDir()
	os.MkdirAll(filepath.Join(base, "trusted.ed25519.d"), 0o755)
	os.WriteFile(filepath.Join(base, "trusted.ed25519.d", "a"), []byte(Ed25519PublicKeyString(pk1)+"\n"), 0o644)
	os.WriteFile(filepath.Join(base, "revoked.ed25519"), []byte(Ed25519PublicKeyString(pk1)+"\n"), 0o644)
	var k Ed25519Keys
	k.AddSystemDirs(base)
	if len(k.Trusted) != 1 || len(k.Revoked) != 1 {
		t.Fatalf("system dirs: %d trusted, %d revoked", len(k.Trusted), len(k.Revoked))
	}
	if _, err := k.VerifyEd25519([]byte("x"), [][]byte{SignEd25519(sk1, []byte("x"))}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a revoked key must not verify: %v", err)
	}
}

// pgpKey makes a throwaway OpenPGP key pair in pure Go.
func pgpKey(t *testing.T, name string, cfg *packet.Config) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func exportPublic(t *testing.T, es ...*openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, e := range es {
		if err := e.Serialize(&buf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestGPG(t *testing.T) {
	now := time.Now()
	good := pgpKey(t, "Good", nil)
	other := pgpKey(t, "Other", nil)
	expiring := pgpKey(t, "Expiring", &packet.Config{KeyLifetimeSecs: 3600})
	revoked := pgpKey(t, "Revoked", nil)
	data := []byte("summary bytes")
	sign := func(e *openpgp.Entity) []byte {
		s, err := SignGPG(e, nil, data)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sigGood, sigOther, sigExpiring, sigRevoked := sign(good), sign(other), sign(expiring), sign(revoked)
	if err := revoked.RevokeKey(packet.KeyCompromised, "test", nil); err != nil {
		t.Fatal(err)
	}
	var kr Keyring
	el, err := ReadOpenPGPKeys(exportPublic(t, good, expiring, revoked))
	if err != nil {
		t.Fatal(err)
	}
	kr.Add(el)

	tests := []struct {
		name  string
		data  []byte
		sigs  [][]byte
		at    time.Time
		want  error
		check func(GPGSignature) bool
	}{
		{"good", data, [][]byte{sigGood}, now, nil, func(s GPGSignature) bool { return s.Valid && s.UserName == "Good" }},
		{"unknown key then good", data, [][]byte{sigOther, sigGood}, now, nil, nil},
		{"unknown key", data, [][]byte{sigOther}, now, ErrBadSignature, func(s GPGSignature) bool { return s.KeyMissing }},
		{"tampered", []byte("summary bytez"), [][]byte{sigGood}, now, ErrBadSignature, func(s GPGSignature) bool { return !s.Valid && !s.KeyMissing }},
		{"expired key", data, [][]byte{sigExpiring}, now.Add(2 * time.Hour), ErrBadSignature, func(s GPGSignature) bool { return s.KeyExpired }},
		{"expiring key still valid", data, [][]byte{sigExpiring}, now, nil, func(s GPGSignature) bool { return s.Valid && !s.KeyExpires.IsZero() }},
		{"revoked key", data, [][]byte{sigRevoked}, now, ErrBadSignature, func(s GPGSignature) bool { return s.KeyRevoked }},
		{"garbage", data, [][]byte{[]byte("not a packet")}, now, ErrBadSignature, nil},
		{"two packets in one", data, [][]byte{append(append([]byte(nil), sigOther...), sigGood...)}, now, ErrBadSignature,
			func(s GPGSignature) bool { return strings.Contains(s.Err.Error(), "after the signature packet") }},
		{"none", data, nil, now, ErrNoSignatures, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := kr.VerifyGPG(tc.data, tc.sigs, tc.at)
			err := RequireValidGPG(res)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.check != nil && !tc.check(res[len(res)-1]) {
				t.Errorf("result %+v", res[len(res)-1])
			}
			var out bytes.Buffer
			for i := range res {
				res[i].Describe(&out, "  ")
			}
			if len(res) > 0 && out.Len() == 0 {
				t.Error("Describe wrote nothing")
			}
		})
	}
}

func TestGPGDescribe(t *testing.T) {
	e := pgpKey(t, "Test Key", nil)
	data := []byte("x")
	sig, err := SignGPG(e, nil, data)
	if err != nil {
		t.Fatal(err)
	}
	var kr Keyring
	kr.Add(openpgp.EntityList{e})
	res := kr.VerifyGPG(data, [][]byte{sig}, time.Now())
	var out bytes.Buffer
	res[0].Describe(&out, "  ")
	s := out.String()
	for _, want := range []string{"  Signature made ", " key ID " + res[0].KeyID(), `  Good signature from "Test Key <Test Key@example.com>"`} {
		if !strings.Contains(s, want) {
			t.Errorf("Describe = %q, want %q in it", s, want)
		}
	}
	var empty Keyring
	res = empty.VerifyGPG(data, [][]byte{sig}, time.Now())
	out.Reset()
	res[0].Describe(&out, "")
	if !strings.Contains(out.String(), "Can't check signature: public key not found") {
		t.Errorf("missing key: %q", out.String())
	}
}

func TestFindSigningKey(t *testing.T) {
	e := pgpKey(t, "Signer", nil)
	var sec bytes.Buffer
	if err := e.SerializePrivate(&sec, nil); err != nil {
		t.Fatal(err)
	}
	el, err := ReadOpenPGPKeys(sec.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	fp := e.PrimaryKey.KeyIdString()
	got, cfg, err := FindSigningKey(el, "0x"+strings.ToLower(fp))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := SignGPG(got, cfg, []byte("d"))
	if err != nil {
		t.Fatal(err)
	}
	var kr Keyring
	kr.Add(openpgp.EntityList{e})
	if err := RequireValidGPG(kr.VerifyGPG([]byte("d"), [][]byte{sig}, time.Now())); err != nil {
		t.Errorf("signature by the found key: %v", err)
	}
	// The subkey ID selects the subkey.
	sub := e.Subkeys[0].PublicKey.KeyIdString()
	if _, cfg, err := FindSigningKey(el, sub); err != nil || cfg.SigningKeyId != e.Subkeys[0].PublicKey.KeyId {
		t.Errorf("subkey %s: cfg %+v, err %v", sub, cfg, err)
	}
	if _, _, err := FindSigningKey(el, "DEADBEEFDEADBEEF"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown key: %v", err)
	}
	if _, _, err := FindSigningKey(openpgp.EntityList{{PrimaryKey: e.PrimaryKey}}, fp); err == nil {
		t.Error("a public-only key must not be usable for signing")
	}
}

func TestReadOpenPGPKeysArmored(t *testing.T) {
	a, b := pgpKey(t, "A", nil), pgpKey(t, "B", nil)
	var out bytes.Buffer
	for _, e := range []*openpgp.Entity{a, b} {
		w, err := armorEncode(&out)
		if err != nil {
			t.Fatal(err)
		}
		e.Serialize(w)
		w.Close()
		out.WriteString("\n")
	}
	el, err := ReadOpenPGPKeys(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(el) != 2 {
		t.Errorf("read %d keys from two armored blocks, want 2", len(el))
	}
	if _, err := ReadOpenPGPKeys([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\ngarbage\n")); err == nil {
		t.Error("a broken armored block must be an error")
	}
}

func FuzzVerifyGPG(f *testing.F) {
	e, err := openpgp.NewEntity("F", "", "f@example.com", nil)
	if err != nil {
		f.Fatal(err)
	}
	sig, _ := SignGPG(e, nil, []byte("data"))
	f.Add(sig)
	f.Add([]byte{0x89, 0x01, 0x33})
	kr := Keyring{entities: openpgp.EntityList{e}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		res := kr.VerifyGPG([]byte("data"), [][]byte{raw}, time.Now())
		RequireValidGPG(res)
		res[0].Describe(&bytes.Buffer{}, "")
	})
}

func FuzzReadOpenPGPKeys(f *testing.F) {
	e, err := openpgp.NewEntity("F", "", "f@example.com", nil)
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	e.Serialize(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ReadOpenPGPKeys(data)
	})
}

func FuzzParseEd25519Keys(f *testing.F) {
	f.Add([]byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if keys, err := ParseEd25519PublicKeys(data); err == nil {
			for _, k := range keys {
				if len(k) != ed25519.PublicKeySize {
					t.Fatalf("key of %d bytes accepted", len(k))
				}
			}
		}
		ParseEd25519SecretKeys(data)
	})
}

func armorEncode(w *bytes.Buffer) (interface {
	Write([]byte) (int, error)
	Close() error
}, error) {
	return armor.Encode(w, openpgp.PublicKeyType, nil)
}

// TestCDate: glib's %c pads single-digit days with a figure space, which
// g_print turns into '?' outside UTF-8 locales; ostree show prints that.
func TestCDate(t *testing.T) {
	local := time.Local
	time.Local = time.UTC // cDate prints local time
	t.Cleanup(func() { time.Local = local })
	for _, tc := range []struct {
		day    int
		locale string // LANG; LC_ALL and LC_CTYPE unset
		want   string
	}{
		{1, "C.UTF-8", "Tue Dec \u20071 23:36:25 2026"},
		{1, "en_US.utf8", "Tue Dec \u20071 23:36:25 2026"},
		{1, "C", "Tue Dec ?1 23:36:25 2026"},
		{1, "", "Tue Dec ?1 23:36:25 2026"},
		{15, "C.UTF-8", "Tue Dec 15 23:36:25 2026"},
		{15, "C", "Tue Dec 15 23:36:25 2026"},
	} {
		t.Setenv("LC_ALL", "")
		t.Setenv("LC_CTYPE", "")
		t.Setenv("LANG", tc.locale)
		d := time.Date(2026, 12, tc.day, 23, 36, 25, 0, time.UTC)
		if got := cDate(d); got != tc.want {
			t.Errorf("cDate(day %d, LANG=%q) = %q, want %q", tc.day, tc.locale, got, tc.want)
		}
	}
}
