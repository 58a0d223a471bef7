package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
)

var commitCommand = &command{
	name:    "commit",
	summary: "Commit a directory tree to a branch",
	usage:   "-b REF [-s SUBJECT] [-m BODY] [--timestamp=TIME] [--add-metadata-string=K=V]… [--sign=KEY | --gpg-sign=KEY-ID …] [--tree=dir=PATH | PATH]",
	help: `Writes every file of PATH into the repository and a commit on REF whose
parent is REF's current commit; prints the new commit's checksum. The commit
carries ostree.ref-binding=[REF], as ostree's does.

Options:
  -b, --branch=REF                  the branch to commit to
  -s, --subject=SUBJECT             one-line subject
  -m, --body=BODY                   full description
  --timestamp=TIME                  RFC 3339 ("2024-01-01T00:00:00Z"), or @UNIXSECONDS
  --add-metadata-string=KEY=VALUE   add a string to the commit metadata (repeatable)
  --tree=dir=PATH                   the directory to commit (or give PATH)
  --canonical-permissions           record owner 0:0 and modes 0755/0644 only
                                    (bare-user-only repositories always record
                                    0:0 and drop setuid/setgid/sticky and
                                    group/other write, as ostree does)
` + signFlagsHelp + `

The signatures are written in the same transaction, before REF moves.

Examples:
  repofs --repo=repo commit -b os/main -s "Update" ./rootfs
  repofs --repo=repo commit -b os/main --sign-from-file=secret.ed25519 ./rootfs`,
	setup: withFlags((*commitFlags).register, runCommit),
}

type commitFlags struct {
	branch, subject, body, timestamp, tree string
	metadata                               []string // --add-metadata-string
	canonical                              bool     // --canonical-permissions
	sign                                   signFlags
}

func (f *commitFlags) register(fs *flag.FlagSet) {
	fs.StringVarP(&f.branch, "branch", "b", "", "")
	fs.StringVarP(&f.subject, "subject", "s", "", "")
	fs.StringVarP(&f.body, "body", "m", "", "")
	fs.StringVar(&f.timestamp, "timestamp", "", "")
	fs.StringVar(&f.tree, "tree", "", "")
	fs.StringArrayVar(&f.metadata, "add-metadata-string", nil, "")
	fs.BoolVar(&f.canonical, "canonical-permissions", false, "")
	f.sign.register(fs)
}

func runCommit(e *env, f *commitFlags, args []string) error {
	dir, err := f.dir(args)
	if err != nil {
		return err
	}
	if f.branch == "" {
		return usagef("commit needs a branch: -b REF")
	}
	if err := repo.ValidateRef(f.branch); err != nil {
		return usagef("%v", err)
	}
	o, err := f.options()
	if err != nil {
		return err
	}
	s, err := f.sign.load()
	if err != nil {
		return err
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	c, err := commitTree(e, r, f.branch, dir, o, repo.DirOptions{CanonicalPermissions: f.canonical}, s)
	if err != nil {
		// Once the transaction has ended: say what tmp/ holds and how
		// to release it, as a pull does.
		return r.ExplainNoSpace(err, 0)
	}
	_, err = fmt.Fprintln(e.stdout, c)
	return err
}

// dir is the directory to commit: --tree=dir=PATH or the one argument.
func (f *commitFlags) dir(args []string) (string, error) {
	switch {
	case f.tree != "" && len(args) == 0:
		dir, ok := strings.CutPrefix(f.tree, "dir=")
		if !ok {
			return "", usagef("--tree supports only dir=PATH")
		}
		return dir, nil
	case f.tree == "" && len(args) == 1:
		return args[0], nil
	}
	return "", usagef("commit needs exactly one tree: --tree=dir=PATH or PATH")
}

// options are the commit's subject, body, timestamp and metadata, bound
// to the branch with ostree.ref-binding.
func (f *commitFlags) options() (repo.CommitOptions, error) {
	o := repo.CommitOptions{Subject: f.subject, Body: f.body}
	if f.timestamp != "" {
		ts, err := parseTimestamp(f.timestamp)
		if err != nil {
			return o, usagef("%v", err)
		}
		o.Timestamp = ts
	}
	for _, kv := range f.metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return o, usagef("--add-metadata-string needs KEY=VALUE, got %q", kv)
		}
		o.Metadata = append(o.Metadata, gvariant.Entry{Key: k, Value: gvariant.StringVariant(v)})
	}
	o.Metadata = append(o.Metadata, gvariant.Entry{Key: "ostree.ref-binding", Value: gvariant.StringsVariant([]string{f.branch})})
	return o, nil
}

// commitTree commits dir to branch in one transaction, signed by s when
// it is set.
func commitTree(e *env, r *repo.Repo, branch, dir string, o repo.CommitOptions, do repo.DirOptions, s *signer) (repo.Checksum, error) {
	var zero repo.Checksum
	if parent, err := r.ReadRef("", branch); err == nil {
		o.Parent = &parent
	}
	tx, err := r.Begin(e.ctx)
	if err != nil {
		return zero, err
	}
	defer tx.Abort()
	tree, meta, err := tx.WriteDirectory(e.ctx, dir, do)
	if err != nil {
		return zero, err
	}
	c, err := tx.WriteCommit(o, tree, meta)
	if err != nil {
		return zero, err
	}
	if s != nil {
		if err := s.signCommit(tx, c); err != nil {
			return zero, err
		}
	}
	if err := tx.SetRef("", branch, c); err != nil {
		return zero, err
	}
	return c, tx.Commit(e.ctx)
}

func parseTimestamp(s string) (time.Time, error) {
	if n, ok := strings.CutPrefix(s, "@"); ok {
		secs, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid timestamp %q", s)
		}
		return time.Unix(secs, 0).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid timestamp %q: use RFC 3339 (2024-01-01T00:00:00Z) or @UNIXSECONDS", s)
}
