// Package sign owns OSTree's signatures: ed25519 signatures
// (ostree.sign.ed25519) made and checked with the standard library, OpenPGP
// signatures (ostree.gpgsigs) made and checked with ProtonMail's go-crypto,
// the key files and keyrings ostree reads them with (and merging imported
// keys into a keyring, as gpg --import does), and the detached metadata
// (commitmeta, summary.sig) that carries them.
//
// It checks bytes against keys; deciding which keys a remote trusts and
// refusing what fails is the pull package's job.
package sign
