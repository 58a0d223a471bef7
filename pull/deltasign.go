package pull

import (
	"github.com/repofs/repofs/repo/delta"
	"github.com/repofs/repofs/repo/sign"
)

// verifyDelta checks a signed superblock's signatures when the remote
// verifies ed25519 signatures (sign-verify): one must be valid. ostree
// signs deltas only with its signing engines (ed25519), so OpenPGP remotes
// rely on the commit's own signatures, checked before anything of the
// delta is staged.
func (v *verifier) verifyDelta(dn delta.Name, superblock []byte, sigs delta.Signatures) error {
	if !v.signCommit {
		return nil
	}
	fail := func(format string, args ...any) error {
		return v.fail("delta "+dn.String(), format, args...)
	}
	list, err := sigs.Get(sign.KeyEd25519)
	if err != nil {
		return fail("%v", err)
	}
	if len(list) == 0 {
		return fail("signed superblock without an ed25519 signature")
	}
	if _, err := v.ed.VerifyEd25519(superblock, list); err != nil {
		return fail("%v", err)
	}
	return nil
}
