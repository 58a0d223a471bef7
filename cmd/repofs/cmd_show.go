package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/sign"
)

var showCommand = &command{
	name:    "show",
	summary: "Show a commit",
	usage:   "[OPTIONS] REV",
	help: `Prints the commit as ostree show does, then the signatures in its detached
metadata and whether each verifies: OpenPGP ones ("Found N signature(s):",
in ostree's words) and ed25519 ones. They are checked against the keys of
every remote and ostree's global key directories, or only those of the
remote NAME with --gpg-verify-remote.

Options:
  --raw                               print the commit object as a GVariant
  -B, --no-byteswap                   with --raw or a metadata key, print
                                      numbers as stored (big-endian ones
                                      byte-swapped)
  --print-metadata-key=KEY            print one key of the commit's metadata
  --print-detached-metadata-key=KEY   print one key of its detached metadata
  --print-sizes                       print the totals of its ostree.sizes
                                      metadata, and how much of it is missing
  --print-related                     print its related objects
  --print-variant-type=TYPE           read the file REV as a GVariant of TYPE
                                      and print it
  --gpg-verify-remote=NAME            verify with the keys of remote NAME

Examples:
  repofs --repo=repo show os/main^
  repofs --repo=repo show --print-metadata-key=version os/main
  repofs --repo=repo show --raw os/main
  repofs show --print-variant-type='a{sv}' summary.sig`,
	setup: withFlags((*showFlags).register, runShow),
}

type showFlags struct {
	remote               string // --gpg-verify-remote
	raw, noSwap          bool
	metaKey, detachedKey string
	sizes, related       bool
	variantType          string
}

func (f *showFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.remote, "gpg-verify-remote", "", "")
	fs.BoolVar(&f.raw, "raw", false, "")
	fs.BoolVarP(&f.noSwap, "no-byteswap", "B", false, "")
	fs.StringVar(&f.metaKey, "print-metadata-key", "", "")
	fs.StringVar(&f.detachedKey, "print-detached-metadata-key", "", "")
	fs.BoolVar(&f.sizes, "print-sizes", false, "")
	fs.BoolVar(&f.related, "print-related", false, "")
	fs.StringVar(&f.variantType, "print-variant-type", "", "")
}

func runShow(e *env, f *showFlags, args []string) error {
	if len(args) == 0 {
		return errors.New("An object argument is required")
	}
	if f.metaKey == "" && f.detachedKey == "" && !f.related && !f.sizes {
		if f.variantType != "" {
			w := bufio.NewWriter(e.stdout)
			if err := showVariantFile(w, args[0], f.variantType); err != nil {
				return err
			}
			return w.Flush()
		}
		return showCommits(e, args[:1], false, f.remote, dumpFlags{raw: f.raw, noSwap: f.noSwap})
	}
	r, c, err := e.resolveRev(args[0])
	if err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	switch {
	case f.metaKey != "" || f.detachedKey != "":
		key, detached := f.metaKey, false
		if f.detachedKey != "" {
			key, detached = f.detachedKey, true
		}
		err = showMetadataKey(w, r, c, key, detached, f.noSwap)
	case f.related:
		err = showRelated(w, r, c)
	default:
		err = showSizes(w, r, c)
	}
	if err != nil {
		return err
	}
	return w.Flush()
}

// dumpFlags choose how a commit prints: --raw (the object as a GVariant,
// instead of the summary) and -B (its numbers as stored, before the
// summary).
type dumpFlags struct{ raw, noSwap bool }

// showCommits prints the commit REV names, as show does, or with follow
// it and its ancestors, as log does; remote limits the keys that verify
// show's signatures.
func showCommits(e *env, args []string, follow bool, remote string, df dumpFlags) error {
	if len(args) != 1 {
		return usagef("needs exactly one REV")
	}
	r, c, err := e.resolveRev(args[0])
	if err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	for first := true; ; first = false {
		commit, err := r.ReadCommit(c)
		if !first && errors.Is(err, repo.ErrNotFound) {
			io.WriteString(w, "<< History beyond this commit not fetched >>\n")
			break
		}
		if err != nil {
			return err
		}
		if err := dumpCommit(w, r, commit, df); err != nil {
			return err
		}
		if !follow {
			if err := writeSignatures(w, r, c, remote); err != nil {
				return err
			}
		}
		if !follow || !commit.HasParent {
			break
		}
		c = commit.Parent
	}
	return w.Flush()
}

// dumpCommit prints a commit as ostree's ot_dump_object does.
func dumpCommit(w io.Writer, r *repo.Repo, commit *repo.Commit, df dumpFlags) error {
	if !df.raw && !df.noSwap {
		writeCommit(w, commit)
		return nil
	}
	v, err := commitValue(r, commit.Checksum)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "commit %s\n", commit.Checksum)
	printVariant(w, v, df.noSwap)
	if df.noSwap { // -B prints the stored form, then the summary
		writeCommitBody(w, commit)
	}
	return nil
}

// writeCommit prints a commit exactly as ostree's dump_commit does.
func writeCommit(w io.Writer, c *repo.Commit) {
	fmt.Fprintf(w, "commit %s\n", c.Checksum)
	writeCommitBody(w, c)
}

// writeCommitBody is writeCommit after the "commit CHECKSUM" line.
func writeCommitBody(w io.Writer, c *repo.Commit) {
	if c.HasParent {
		fmt.Fprintf(w, "Parent:  %s\n", c.Parent)
	}
	fmt.Fprintf(w, "ContentChecksum:  %s\n", c.ContentChecksum())
	fmt.Fprintf(w, "Date:  %s\n", c.Timestamp.Format("2006-01-02 15:04:05 +0000"))
	if v, ok := c.Version(); ok {
		fmt.Fprintf(w, "Version: %s\n", v)
	}
	if c.Subject != "" {
		io.WriteString(w, "\n")
		writeIndented(w, c.Subject)
	} else {
		io.WriteString(w, "(no subject)\n")
	}
	if c.Body != "" {
		io.WriteString(w, "\n")
		writeIndented(w, c.Body)
	}
	io.WriteString(w, "\n")
}

// writeSignatures prints a commit's signatures and whether each verifies;
// a commit without any prints nothing, as in ostree.
func writeSignatures(w io.Writer, r *repo.Repo, c repo.Checksum, remote string) error {
	data, md, err := readSigned(r, c)
	if err != nil || md == nil {
		return err
	}
	gpgSigs, err := sign.Signatures(md, sign.KeyGPG)
	if err != nil {
		return fmt.Errorf("commit %s: %w", c, err)
	}
	edSigs, err := sign.Signatures(md, sign.KeyEd25519)
	if err != nil {
		return fmt.Errorf("commit %s: %w", c, err)
	}
	if len(gpgSigs) == 0 && len(edSigs) == 0 {
		return nil
	}
	kr, ed, err := pull.TrustedKeys(r, remote)
	if err != nil {
		return err
	}
	if len(gpgSigs) > 0 {
		res := kr.VerifyGPG(data, gpgSigs, time.Now())
		fmt.Fprintf(w, "Found %d signature%s:\n", len(res), plural(len(res)))
		for i := range res {
			io.WriteString(w, "\n")
			res[i].Describe(w, "  ")
		}
	}
	if len(edSigs) > 0 {
		if len(gpgSigs) > 0 {
			io.WriteString(w, "\n")
		}
		fmt.Fprintf(w, "Found %d ed25519 signature%s:\n", len(edSigs), plural(len(edSigs)))
		for _, sig := range edSigs {
			if pk, err := ed.VerifyEd25519(data, [][]byte{sig}); err == nil {
				fmt.Fprintf(w, "\n  Good ed25519 signature from key %s\n", sign.Ed25519PublicKeyString(pk))
			} else {
				fmt.Fprintf(w, "\n  Can't verify ed25519 signature: none of the %d trusted keys made it\n", len(ed.Trusted))
			}
		}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// writeIndented indents every line by four spaces; a final line without a
// newline gets one, as ostree's dump_indented_lines does.
func writeIndented(w io.Writer, s string) {
	for s != "" {
		line, rest, _ := strings.Cut(s, "\n")
		fmt.Fprintf(w, "    %s\n", line)
		s = rest
	}
}
