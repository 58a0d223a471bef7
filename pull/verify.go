package pull

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/sign"
)

// ErrVerification means a commit or summary failed the signature checks
// its remote's configuration asks for; nothing of it was stored.
var ErrVerification = errors.New("signature verification failed")

// verifyError matches ErrVerification and the signature error it wraps.
type verifyError struct {
	msg   string
	cause error
}

func (e *verifyError) Error() string        { return e.msg }
func (e *verifyError) Is(target error) bool { return target == ErrVerification }
func (e *verifyError) Unwrap() error        { return e.cause }

func verifyErrorf(cause error, format string, args ...any) error {
	return &verifyError{fmt.Sprintf(format, args...), cause}
}

// Option returns a key of the remote's group.
func (rm *Remote) Option(key string) (string, bool) {
	for i := len(rm.Keys) - 1; i >= 0; i-- {
		if rm.Keys[i].Key == key {
			return rm.Keys[i].Value, true
		}
	}
	return "", false
}

func (rm *Remote) boolOption(key string, def bool) (bool, error) {
	v, ok := rm.Option(key)
	if !ok || v == "" {
		return def, nil
	}
	if b, ok := repo.ParseBool(v); ok {
		return b, nil
	}
	return def, fmt.Errorf("remote %s: %s=%s is not a boolean (true or false)", rm.Name, key, v)
}

// GlobalKeyringDir is ostree's keyring directory for remotes that have no
// keyring of their own ($OSTREE_GPG_HOME overrides it, as in ostree).
func GlobalKeyringDir() string {
	if d := os.Getenv("OSTREE_GPG_HOME"); d != "" {
		return d
	}
	return "/usr/share/ostree/trusted.gpg.d"
}

// ed25519SystemDirs are where ostree's system ed25519 keys live; nil
// means sign's defaults (/etc/ostree, /usr/share/ostree). Tests point
// them at a directory of their own.
var ed25519SystemDirs []string

// verifier applies a remote's signature settings: gpg-verify (default
// true) and gpg-verify-summary for OpenPGP, sign-verify and
// sign-verify-summary for ed25519.
type verifier struct {
	remote                 string
	gpgCommit, gpgSummary  bool
	signCommit, signSumary bool
	gpg                    sign.Keyring
	ed                     sign.Ed25519Keys
	now                    func() time.Time
}

func newVerifier(r *repo.Repo, rm *Remote) (*verifier, error) {
	v := &verifier{remote: rm.Name, gpgCommit: rm.GPGVerify, now: time.Now}
	var err error
	if v.gpgSummary, err = rm.boolOption("gpg-verify-summary", false); err != nil {
		return nil, err
	}
	if v.signSumary, err = rm.boolOption("sign-verify-summary", false); err != nil {
		return nil, err
	}
	// sign-verify is a boolean or a list of signature types.
	required := false
	sv, _ := rm.Option("sign-verify")
	if b, ok := repo.ParseBool(sv); ok || sv == "" {
		v.signCommit = b
	} else {
		for _, t := range strings.FieldsFunc(sv, func(r rune) bool { return r == ';' || r == ',' }) {
			if t != "ed25519" {
				return nil, fmt.Errorf("remote %s: sign-verify=%s: unknown signature type %q (repofs knows ed25519)", rm.Name, sv, t)
			}
			v.signCommit, required = true, true
		}
		if !v.signCommit {
			// ostree refuses this too: verification was asked for, with no way.
			return nil, fmt.Errorf("remote %s: sign-verify=%s names no signature type; use sign-verify=ed25519 or sign-verify=false", rm.Name, sv)
		}
	}
	if v.signCommit || v.signSumary {
		configured, err := v.loadEd25519(rm, required)
		if err != nil {
			return nil, err
		}
		if !configured {
			v.ed.AddSystemDirs(ed25519SystemDirs...)
		}
	}
	if v.gpgCommit || v.gpgSummary {
		own, err := v.loadGPG(r, rm)
		if err != nil {
			return nil, err
		}
		if !own {
			if err := v.gpg.AddDir(GlobalKeyringDir()); err != nil {
				return nil, fmt.Errorf("remote %s: %w", rm.Name, err)
			}
		}
	}
	return v, nil
}

// loadEd25519 reads verification-ed25519-file and -key, and reports
// whether the remote names either; without, the caller falls back on
// ostree's system key directories, unless a key is required.
func (v *verifier) loadEd25519(rm *Remote, required bool) (configured bool, err error) {
	file, hasFile := rm.Option("verification-ed25519-file")
	key, hasKey := rm.Option("verification-ed25519-key")
	if hasFile {
		if err := v.ed.AddFile(file); err != nil {
			return true, fmt.Errorf("remote %s: verification-ed25519-file: %w", rm.Name, err)
		}
	}
	if hasKey {
		k, err := sign.ParseEd25519PublicKey(key)
		if err != nil {
			return true, fmt.Errorf("remote %s: verification-ed25519-key: %w", rm.Name, err)
		}
		v.ed.Trusted = append(v.ed.Trusted, k)
	}
	if !hasFile && !hasKey && required {
		return false, fmt.Errorf("remote %s: No keys found for required signapi type ed25519: set verification-ed25519-key=BASE64 or verification-ed25519-file=PATH in its config", rm.Name)
	}
	return hasFile || hasKey, nil
}

// loadGPG reads the keys ostree would from the remote's keyring
// (REPO/REMOTE.trustedkeys.gpg) and the files and directories of
// gpgkeypath, and reports whether the remote has a keyring of its own;
// without, the caller adds the global directory, as ostree does.
func (v *verifier) loadGPG(r *repo.Repo, rm *Remote) (own bool, err error) {
	kp := KeyringPath(r, rm.Name)
	if _, err := os.Stat(kp); err == nil {
		if err := v.gpg.AddFile(kp); err != nil {
			return true, fmt.Errorf("remote %s: %w", rm.Name, err)
		}
		own = true
	}
	if paths, ok := rm.Option("gpgkeypath"); ok {
		for _, p := range strings.FieldsFunc(paths, func(r rune) bool { return r == ';' || r == ',' }) {
			st, err := os.Stat(p)
			if err != nil {
				return own, fmt.Errorf("remote %s: gpgkeypath: %w", rm.Name, err)
			}
			if st.IsDir() {
				err = v.gpg.AddDir(p)
			} else {
				err = v.gpg.AddFile(p)
			}
			if err != nil {
				return own, fmt.Errorf("remote %s: gpgkeypath: %w", rm.Name, err)
			}
		}
	}
	return own, nil
}

// fail makes the error for what (a commit, the summary); an error among
// args becomes its cause, so callers can still match sign's sentinels.
func (v *verifier) fail(what, format string, args ...any) error {
	var cause error
	for _, a := range args {
		if err, ok := a.(error); ok {
			cause = err
		}
	}
	return verifyErrorf(cause, "pull %s: %s: %s", v.remote, what, fmt.Sprintf(format, args...))
}

// verifyCommit checks a commit's bytes against its detached metadata (nil:
// none) as the remote's settings ask; it is called before anything of the
// commit is stored.
func (v *verifier) verifyCommit(c repo.Checksum, data, detached []byte) error {
	if !v.gpgCommit && !v.signCommit {
		return nil
	}
	fail := func(format string, args ...any) error {
		return v.fail("commit "+c.String(), format, args...)
	}
	var md sign.Detached
	if detached != nil {
		var err error
		if md, err = sign.DecodeDetached(detached); err != nil {
			return fail("detached metadata (.commitmeta) is corrupt: %v", err)
		}
	}
	if v.gpgCommit {
		sigs, err := md.Signatures(sign.KeyGPG)
		if err != nil {
			return fail("%v", err)
		}
		if len(sigs) == 0 {
			return fail("GPG verification enabled, but no signatures found (use gpg-verify=false in remote config to disable)")
		}
		if v.gpg.Len() == 0 {
			return fail("GPG verification enabled, but no keys are trusted for this remote: import the publisher's key with 'repofs remote gpg-import %s FILE' (or remote add --gpg-import=FILE)", v.remote)
		}
		if err := sign.RequireValidGPG(v.gpg.VerifyGPG(data, sigs, v.now())); err != nil {
			return fail("%v", err)
		}
	}
	if v.signCommit {
		if detached == nil {
			return fail("Can't verify commit without detached metadata (sign-verify is on)")
		}
		sigs, err := md.Signatures(sign.KeyEd25519)
		if err != nil {
			return fail("%v", err)
		}
		if _, err := v.ed.VerifyEd25519(data, sigs); err != nil {
			return fail("%v", err)
		}
	}
	return nil
}

// summaryNeedsSig reports whether the summary must come with a valid
// summary.sig.
func (v *verifier) summaryNeedsSig() bool { return v.gpgSummary || v.signSumary }

// verifySummary checks the summary's bytes against summary.sig (nil: the
// server has none).
func (v *verifier) verifySummary(summary, sig []byte) error {
	return v.verifySigned("summary", "summary.sig", summary, sig)
}

// verifySigned checks data, named what in errors, against its detached
// signatures sig, the file sigName (nil: the server has none), as the
// remote's summary settings ask.
func (v *verifier) verifySigned(what, sigName string, data, sig []byte) error {
	fail := func(format string, args ...any) error {
		return v.fail(what, format, args...)
	}
	if sig == nil {
		if v.gpgSummary {
			return fail("GPG verification enabled, but no %s found (use gpg-verify-summary=false in remote config to disable)", sigName)
		}
		return fail("Signatures verification enabled, but no %s found (use sign-verify-summary=false in remote config to disable)", sigName)
	}
	md, err := sign.DecodeDetached(sig)
	if err != nil {
		return fail("%s is corrupt: %v", sigName, err)
	}
	if v.gpgSummary {
		sigs, err := md.Signatures(sign.KeyGPG)
		if err != nil {
			return fail("%v", err)
		}
		if err := sign.RequireValidGPG(v.gpg.VerifyGPG(data, sigs, v.now())); err != nil {
			return fail("%v", err)
		}
	}
	if v.signSumary {
		sigs, err := md.Signatures(sign.KeyEd25519)
		if err != nil {
			return fail("%v", err)
		}
		if _, err := v.ed.VerifyEd25519(data, sigs); err != nil {
			return fail("%v", err)
		}
	}
	return nil
}

// TrustedKeys returns the keys a pull from remote checks signatures with
// (its keyring or else the global one, gpgkeypath, its ed25519 keys or
// else the system's); remote "" gathers those of every remote plus the
// global keyring and the system's ed25519 keys, which is what `repofs
// show` checks a commit's signatures against.
func TrustedKeys(r *repo.Repo, remote string) (*sign.Keyring, *sign.Ed25519Keys, error) {
	var rms []*Remote
	if remote != "" {
		rm, err := ReadRemote(r, remote)
		if err != nil {
			return nil, nil, err
		}
		rms = []*Remote{rm}
	} else {
		var err error
		if rms, err = ListRemotes(r); err != nil {
			return nil, nil, err
		}
	}
	kr, ed := &sign.Keyring{}, &sign.Ed25519Keys{}
	// The pull's sources, with its fallbacks (the global keyring, the
	// system's ed25519 directories) read once for all remotes.
	global, system := remote == "", remote == ""
	for _, rm := range rms {
		v := &verifier{remote: rm.Name}
		own, err := v.loadGPG(r, rm)
		if err != nil {
			return nil, nil, err
		}
		configured, err := v.loadEd25519(rm, false)
		if err != nil {
			return nil, nil, err
		}
		global, system = global || !own, system || !configured
		kr.Add(v.gpg.Entities())
		ed.Trusted = append(ed.Trusted, v.ed.Trusted...)
		ed.Revoked = append(ed.Revoked, v.ed.Revoked...)
	}
	if global {
		if err := kr.AddDir(GlobalKeyringDir()); err != nil {
			return nil, nil, err
		}
	}
	if system {
		ed.AddSystemDirs(ed25519SystemDirs...)
	}
	return kr, ed, nil
}
