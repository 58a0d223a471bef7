package main

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/sign"
)

// runRemoteGPGListKeys prints the OpenPGP keys a remote's signatures are
// checked with (its keyring, else the global one, and gpgkeypath), or with
// no NAME the global keyring's, as ostree remote gpg-list-keys does.
func runRemoteGPGListKeys(e *env, r *repo.Repo, args []string) error {
	var kr *sign.Keyring
	if len(args) > 0 {
		var err error
		if kr, _, err = pull.TrustedKeys(r, args[0]); err != nil {
			return err
		}
	} else {
		kr = &sign.Keyring{}
		if err := kr.AddDir(pull.GlobalKeyringDir()); err != nil {
			return err
		}
	}
	now := nowFunc()
	for _, ent := range kr.Entities() {
		if err := dumpGPGKey(e.stdout, ent, now); err != nil {
			return err
		}
	}
	return nil
}

// dumpGPGKey prints one key as ostree's ot_dump_gpg_key does: the primary
// key, its user IDs with their WKD update URLs, then its subkeys. User IDs
// print in name order (the OpenPGP library keeps no packet order).
func dumpGPGKey(w io.Writer, ent *openpgp.Entity, now time.Time) error {
	var expires time.Time
	if ps, _ := ent.PrimarySelfSignature(); ps != nil {
		expires = keyExpiry(ent.PrimaryKey, ps)
	}
	dumpGPGSubkey(w, ent.PrimaryKey, len(ent.Revocations) > 0, expires, true, now)
	ids := make([]*openpgp.Identity, 0, len(ent.Identities))
	for _, id := range ent.Identities {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Name < ids[j].Name })
	for _, id := range ids {
		rev := ""
		if len(id.Revocations) > 0 || len(ent.Revocations) > 0 { // gpgme marks a revoked key's user IDs too
			rev = " (revoked)"
		}
		fmt.Fprintf(w, "  UID: %s%s\n", id.Name, rev)
		adv, direct := "", ""
		if id.UserId != nil && id.UserId.Email != "" {
			var err error
			if adv, direct, err = wkdURLs(id.UserId.Email); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "  Advanced update URL: %s\n  Direct update URL: %s\n", adv, direct)
	}
	for _, sk := range ent.Subkeys {
		dumpGPGSubkey(w, sk.PublicKey, len(sk.Revocations) > 0, keyExpiry(sk.PublicKey, sk.Sig), false, now)
	}
	return nil
}

// keyExpiry is when a key expires by its binding signature; zero if never.
func keyExpiry(pk *packet.PublicKey, sig *packet.Signature) time.Time {
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return time.Time{}
	}
	return pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
}

func dumpGPGSubkey(w io.Writer, pk *packet.PublicKey, revoked bool, expires time.Time, primary bool, now time.Time) {
	label, indent := "  Subkey", "    "
	if primary {
		label, indent = "Key", "  "
	}
	rev := ""
	if revoked {
		rev = " (revoked)"
	}
	fmt.Fprintf(w, "%s: %s%s\n", label, strings.ToUpper(hex.EncodeToString(pk.Fingerprint)), rev)
	fmt.Fprintf(w, "%sCreated: %s\n", indent, cTime(pk.CreationTime))
	if !expires.IsZero() {
		word := "Expires"
		if !expires.After(now) {
			word = "Expired"
		}
		fmt.Fprintf(w, "%s%s: %s\n", indent, word, cTime(expires))
	}
}

// cTime formats t in local time as GLib's g_date_time_format "%c" does in
// the C locale: "%a %b %e %H:%M:%S %Y", %e padded with a figure space
// (U+2007), as GLib pads it.
func cTime(t time.Time) string {
	t = t.Local()
	day := fmt.Sprint(t.Day())
	if t.Day() < 10 {
		day = "\u2007" + day
	}
	return t.Format("Mon Jan ") + day + t.Format(" 15:04:05 2006")
}

// wkdURLs are the Web Key Directory URLs of an email address, as ostree
// computes them: the z-base-32 SHA-1 of the lower-cased local part.
func wkdURLs(email string) (advanced, direct string, err error) {
	parts := strings.Split(email, "@")
	if len(parts) != 2 {
		return "", "", fmt.Errorf("Invalid email address \"%s\"", email)
	}
	sum := sha1.Sum([]byte(asciiLower(parts[0])))
	hash := zbase32(sum[:])
	esc := uriEscape(parts[0])
	advanced = fmt.Sprintf("https://openpgpkey.%s/.well-known/openpgpkey/%s/hu/%s?l=%s", parts[1], asciiLower(parts[1]), hash, esc)
	direct = fmt.Sprintf("https://%s/.well-known/openpgpkey/hu/%s?l=%s", parts[1], hash, esc)
	return advanced, direct, nil
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// uriEscape escapes all but RFC 3986's unreserved characters, as
// g_uri_escape_string(s, NULL, FALSE) does.
func uriEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// zbase32 encodes b in z-base-32, 5 bits a character, most significant
// first.
func zbase32(b []byte) string {
	const alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"
	var out []byte
	var acc uint32
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			out = append(out, alphabet[(acc>>(bits-5))&31])
			bits -= 5
		}
	}
	if bits > 0 {
		out = append(out, alphabet[(acc<<(5-bits))&31])
	}
	return string(out)
}
