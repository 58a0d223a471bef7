package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/sign"
)

var remoteCommand = &command{
	name:    "remote",
	summary: "Manage remotes: add, list, delete, show-url, refs, summary, gpg-*",
	usage:   "add|list|delete|show-url|refs|summary|gpg-import|gpg-list-keys …",
	help: `Subcommands (the [remote "NAME"] groups of config, as ostree writes them):
  add [--no-gpg-verify] [--no-sign-verify] [--sign-verify=ed25519=inline:KEY|file:PATH]…
      [--gpg-import=FILE] [--set=K=V]… [--if-not-exists] NAME URL [BRANCH…]
  list [-u]                 the remotes; -u with their URLs
  delete [--if-exists] NAME
  show-url NAME
  refs NAME                 the refs the remote's summary lists, as NAME:REF
  summary NAME              the remote's summary, as ostree prints it
  gpg-list-keys [NAME]      the OpenPGP keys NAME's signatures are checked with
                            (the global keyring's without NAME), as ostree lists them
  gpg-import NAME (-k FILE | --stdin) [KEY-ID…]
                            trust OpenPGP keys (armored or binary) for NAME;
                            they go to REPO/NAME.trustedkeys.gpg, as in ostree

Signature settings (keys of the remote's group, as in ostree):
  gpg-verify=true|false           commits need a good OpenPGP signature (default true)
  gpg-verify-summary=true|false   the summary needs a good summary.sig
  sign-verify=true|ed25519        commits need a good ed25519 signature
  sign-verify-summary=true|false  the summary needs a good ed25519 summary.sig
  verification-ed25519-key=BASE64, verification-ed25519-file=PATH  trusted ed25519 keys
  gpgkeypath=PATH[;PATH…]         more OpenPGP key files or directories

Examples:
  repofs --repo=repo remote add --no-gpg-verify origin https://example.com/repo os/main
  repofs --repo=repo remote add --gpg-import=publisher.asc os https://example.com/repo
  repofs --repo=repo remote add --sign-verify=ed25519=inline:PUBKEY os https://example.com/repo
  repofs --repo=repo remote refs origin
  repofs --repo=repo remote gpg-list-keys os`,
	setup: withFlags((*remoteFlags).register, runRemote),
}

// remoteFlags are the options of every remote subcommand; each reads its
// own and ignores the others.
type remoteFlags struct {
	noGPGVerify  bool     // add --no-gpg-verify
	gpgImport    string   // add --gpg-import
	set          []string // add --set
	ifNotExists  bool     // add --if-not-exists
	keyring      string   // gpg-import -k
	stdin        bool     // gpg-import --stdin
	urls         bool     // list -u
	ifExists     bool     // delete --if-exists
	signVerify   []string // add --sign-verify
	noSignVerify bool     // add --no-sign-verify
}

func (f *remoteFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.noGPGVerify, "no-gpg-verify", false, "")
	fs.StringVar(&f.gpgImport, "gpg-import", "", "")
	fs.StringVarP(&f.keyring, "keyring", "k", "", "")
	fs.BoolVar(&f.stdin, "stdin", false, "")
	fs.StringArrayVar(&f.set, "set", nil, "")
	fs.BoolVar(&f.ifNotExists, "if-not-exists", false, "")
	fs.BoolVarP(&f.urls, "url", "u", false, "")
	fs.BoolVar(&f.ifExists, "if-exists", false, "")
	fs.StringArrayVar(&f.signVerify, "sign-verify", nil, "")
	fs.BoolVar(&f.noSignVerify, "no-sign-verify", false, "")
}

func runRemote(e *env, f *remoteFlags, args []string) error {
	if len(args) == 0 {
		return usagef("remote needs a subcommand: add, list, delete, show-url, refs, summary or gpg-import")
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "add":
		return runRemoteAdd(e, r, f, args)
	case "gpg-import":
		return runRemoteGPGImport(e, r, f, args)
	case "list":
		return runRemoteList(e, r, f)
	case "delete":
		return runRemoteDelete(e, r, f, args)
	case "show-url":
		return runRemoteShowURL(e, r, args)
	case "refs":
		return runRemoteRefs(e, r, args)
	case "summary":
		return runRemoteSummary(e, r, args)
	case "gpg-list-keys":
		return runRemoteGPGListKeys(e, r, args)
	}
	return usagef("unknown remote subcommand %q", sub)
}

// needArgs is the usage error of a remote subcommand given fewer than n
// arguments.
func needArgs(sub string, args []string, n int, what string) error {
	if len(args) < n {
		return usagef("remote %s needs %s", sub, what)
	}
	return nil
}

func runRemoteAdd(e *env, r *repo.Repo, f *remoteFlags, args []string) error {
	if err := needArgs("add", args, 2, "a NAME and a URL"); err != nil {
		return err
	}
	o := pull.AddOptions{NoGPGVerify: f.noGPGVerify, IfNotExists: f.ifNotExists}
	for _, kv := range f.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("--set=%s: want KEY=VALUE", kv)
		}
		o.Set = append(o.Set, repo.ConfigKey{Key: k, Value: v})
	}
	o.Branches = args[2:]
	sv, err := signVerifySettings(f)
	if err != nil {
		return err
	}
	o.Set = append(o.Set, sv...)
	var keys []byte
	if f.gpgImport != "" {
		// Read the keys first: a bad key file must not leave a
		// half-configured remote behind.
		var err error
		if keys, err = os.ReadFile(f.gpgImport); err != nil {
			return fmt.Errorf("remote add %s: --gpg-import: %w", args[0], err)
		}
		if _, err := sign.ReadOpenPGPKeys(keys); err != nil {
			return fmt.Errorf("remote add %s: --gpg-import=%s: %w", args[0], f.gpgImport, err)
		}
	}
	if err := pull.AddRemote(e.ctx, r, args[0], args[1], o); err != nil {
		return err
	}
	if keys == nil {
		return nil
	}
	return importKeys(e, r, args[0], keys, nil)
}

// signVerifySettings are the keys --no-gpg-verify, --no-sign-verify and
// each --sign-verify=KEYTYPE=inline:KEY|file:PATH add, in the order
// ostree writes them after the --set ones.
func signVerifySettings(f *remoteFlags) ([]repo.ConfigKey, error) {
	var out []repo.ConfigKey
	if f.noGPGVerify || f.noSignVerify {
		out = append(out, repo.ConfigKey{Key: "gpg-verify", Value: "false"})
	}
	if f.noSignVerify {
		if len(f.signVerify) > 0 {
			return nil, errors.New("Cannot specify both --sign-verify and --no-sign-verify")
		}
		out = append(out, repo.ConfigKey{Key: "sign-verify", Value: "false"})
	}
	var names []string
	for _, spec := range f.signVerify {
		typ, rest, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("Failed to parse KEYTYPE=[inline|file]:DATA in %s", spec)
		}
		if typ != "ed25519" {
			return nil, errors.New("Requested signature type is not implemented")
		}
		ref, data, _ := strings.Cut(rest, ":")
		switch ref {
		case "inline":
			out = append(out, repo.ConfigKey{Key: "verification-" + typ + "-key", Value: data})
		case "file":
			out = append(out, repo.ConfigKey{Key: "verification-" + typ + "-file", Value: data})
		default:
			return nil, fmt.Errorf("Invalid key reference %s, expected inline|file", ref)
		}
		names = append(names, typ)
	}
	if names != nil {
		out = append(out, repo.ConfigKey{Key: "sign-verify", Value: strings.Join(names, ",")})
	}
	return out, nil
}

func runRemoteGPGImport(e *env, r *repo.Repo, f *remoteFlags, args []string) error {
	if err := needArgs("gpg-import", args, 1, "a NAME"); err != nil {
		return err
	}
	var keys []byte
	var err error
	switch {
	case f.keyring != "" && !f.stdin:
		keys, err = os.ReadFile(f.keyring)
	case f.stdin && f.keyring == "":
		keys, err = io.ReadAll(e.stdin)
	default:
		return usagef("remote gpg-import needs exactly one of -k FILE and --stdin")
	}
	if err != nil {
		return fmt.Errorf("remote gpg-import %s: %w", args[0], err)
	}
	return importKeys(e, r, args[0], keys, args[1:])
}

func runRemoteList(e *env, r *repo.Repo, f *remoteFlags) error {
	rms, err := pull.ListRemotes(r)
	if err != nil {
		return err
	}
	sort.Slice(rms, func(i, j int) bool { return rms[i].Name < rms[j].Name })
	width := 0 // ostree pads names to the longest
	for _, rm := range rms {
		width = max(width, len(rm.Name))
	}
	for _, rm := range rms {
		if f.urls {
			if rm.URL == "" {
				return noURLError(rm.Name)
			}
			// As ostree: the url key as written, mirrorlist= and all.
			fmt.Fprintf(e.stdout, "%-*s  %s\n", width, rm.Name, rm.URL)
		} else {
			fmt.Fprintln(e.stdout, rm.Name)
		}
	}
	return nil
}

func runRemoteDelete(e *env, r *repo.Repo, f *remoteFlags, args []string) error {
	if err := needArgs("delete", args, 1, "a NAME"); err != nil {
		return err
	}
	return pull.DeleteRemote(e.ctx, r, args[0], f.ifExists)
}

func runRemoteShowURL(e *env, r *repo.Repo, args []string) error {
	if err := needArgs("show-url", args, 1, "a NAME"); err != nil {
		return err
	}
	rm, err := pull.ReadRemote(r, args[0])
	if err != nil {
		return err
	}
	if rm.URL == "" {
		return noURLError(rm.Name)
	}
	fmt.Fprintln(e.stdout, rm.URL) // as written: mirrorlist=URL too, as ostree
	return nil
}

// noURLError is ostree's error for a remote without a url key.
func noURLError(name string) error {
	return fmt.Errorf("No \"url\" option in remote \"%s\"", name)
}

func importKeys(e *env, r *repo.Repo, remote string, keys []byte, ids []string) error {
	n, err := pull.ImportKeys(e.ctx, r, remote, keys, ids)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Imported %d GPG key%s to remote \"%s\"\n", n, plural(n), remote)
	return nil
}
