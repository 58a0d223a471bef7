package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	usage:   "(-b REF | --orphan) [-s SUBJECT] [-m BODY | -F FILE] [--parent=COMMIT] [OPTIONS] (--tree=KIND=ARG... | PATH)",
	help: `Writes every file of PATH into the repository and a commit on REF whose
parent is REF's current commit; prints the new commit's checksum. The commit
carries ostree.ref-binding=[REF], as ostree's does.

Options:
  -b, --branch=REF                  the branch to commit to
  --orphan                          write the commit without moving any ref
  --parent=COMMIT                   the parent, instead of REF's commit ("none": none)
  -s, --subject=SUBJECT             one-line subject
  -m, --body=BODY                   full description
  -F, --body-file=FILE              the description from FILE
  --timestamp=TIME                  RFC 3339 ("2024-01-01T00:00:00Z"), or @UNIXSECONDS
  --add-metadata-string=KEY=VALUE   add a string to the commit metadata (repeatable)
  --add-metadata=KEY=VALUE          add VALUE in GVariant text format ('s',
                                    uint32 5, ['a','b'], {'k': <1>}, @as [])
  --add-detached-metadata-string=KEY=VALUE
                                    add a string to the detached metadata (repeatable)
  --skip-if-unchanged               when the tree equals the parent's, write nothing
                                    and print the parent
  --owner-uid=UID, --owner-gid=GID  record every entry as owned by UID, GID
  --mode-ro-executables             clear the write bits of executable files
  --no-xattrs                       record no extended attributes
  --statoverride=FILE               lines "+MODE PATH" add mode bits to PATH,
                                    "=MODE PATH" set them (MODE in decimal, as
                                    ostree reads it; PATH from the root: /usr/bin/su)
  --skip-list=FILE                  leave out each PATH listed, one a line
  --keep-metadata=KEY               copy KEY from the parent's metadata (repeatable)
  --consume                         delete the directory once it is committed
  --bootable                        add ostree.bootable and ostree.linux (the
                                    VERSION of usr/lib/modules/VERSION/vmlinuz)
  --tree=dir=PATH                   the directory to commit (or give PATH)
  --tree=tar=FILE                   the contents of a tar archive ("-": standard
                                    input), read as ostree reads it (see below)
  --tree=ref=REV                    the tree of commit REV (see below)
                                    Several --tree options are layered: each
                                    one's directories merge into the earlier
                                    ones' (taking its metadata), its files
                                    replace theirs
  --tar-autocreate-parents          create the parents a tar leaves implied
                                    (0755, owned as the entry that needs them)
  --tar-pathname-filter=REGEX,REPLACEMENT
                                    rewrite each tar path (\1 for a group)
  --canonical-permissions           record owner 0:0, no setuid/setgid/sticky,
                                    no group/other write, no xattrs, as ostree
                                    does (bare-user-only repositories always)
  --generate-sizes                  add ostree.sizes to the commit metadata: each
                                    file, dirtree and dirmeta object's archived
                                    and unpacked size (archive repositories only,
                                    as ostree; see 'show --print-sizes')
  --table-output                    print the commit and the transaction's counts
                                    as "KEY: VALUE" lines, as ostree
` + signFlagsHelp + `

The signatures are written in the same transaction, before REF moves.
--selinux-policy is not supported: repofs has no SELinux policy loader.

--table-output prints, as ostree does, "Commit:", then "Metadata Total:",
"Metadata Written:", "Content Total:", "Content Written:", "Content Cache
Hits:" (always 0: repofs has no devino cache) and "Content Bytes Written:",
the objects handed to the transaction and those new to the repository.
(When --skip-if-unchanged writes nothing, the counts are 0; ostree prints
whatever its memory held.) With --generate-sizes, file contents are
compressed exactly as zlib compresses them (slower than repofs's usual
compressor), so the sizes, and the commit, are ostree's; with several
--tree options only the last tree's objects and the dirtrees are measured,
as ostree does.

A --tree=ref= tree is taken whole, as ostree takes it, unless an option
changes entries (or --generate-sizes, --consume, a bare-user-only
repository): then, as ostree, every entry is read back and written again
through the options.

A tar commits as ostree's does: leading "/" and "./" go, "./" is the root;
xattrs come from PAX SCHILY.xattr/LIBARCHIVE.xattr records; hardlinks share
their target's content; devices and FIFOs are refused.

Examples:
  repofs --repo=repo commit -b os/main -s "Update" ./rootfs
  repofs --repo=repo commit -b os/main --skip-if-unchanged --owner-uid=0 --owner-gid=0 ./rootfs
  repofs --repo=repo commit --orphan --parent=none -F message.txt ./rootfs
  repofs --repo=repo commit -b os/main --tree=tar=base.tar --tree=dir=overlay
  repofs --repo=repo commit -b os/main --sign-from-file=secret.ed25519 ./rootfs
  repofs --repo=repo commit -b os/main --generate-sizes --table-output ./rootfs`,
	setup: withFlags((*commitFlags).register, runCommit),
}

type commitFlags struct {
	branch, subject, body, timestamp       string
	trees                                  []string // --tree
	tarAutocreate                          bool     // --tar-autocreate-parents
	tarFilter                              string   // --tar-pathname-filter
	bodyFile, parent                       string
	statoverride, skipList                 string
	keep                                   []string // --keep-metadata
	metadata                               []string // --add-metadata-string
	metaVariants                           []string // --add-metadata
	detached                               []string // --add-detached-metadata-string
	canonical                              bool     // --canonical-permissions
	orphan, skipUnchanged, roExec, noXattr bool
	consume, bootable                      bool
	generateSizes, tableOutput             bool
	ownerUID, ownerGID                     int
	sign                                   signFlags
}

func (f *commitFlags) register(fs *flag.FlagSet) {
	fs.StringVarP(&f.branch, "branch", "b", "", "")
	fs.StringVarP(&f.subject, "subject", "s", "", "")
	fs.StringVarP(&f.body, "body", "m", "", "")
	fs.StringVar(&f.timestamp, "timestamp", "", "")
	fs.StringArrayVar(&f.trees, "tree", nil, "")
	fs.BoolVar(&f.tarAutocreate, "tar-autocreate-parents", false, "")
	fs.StringVar(&f.tarFilter, "tar-pathname-filter", "", "")
	fs.StringArrayVar(&f.metadata, "add-metadata-string", nil, "")
	fs.StringArrayVar(&f.metaVariants, "add-metadata", nil, "")
	fs.BoolVar(&f.canonical, "canonical-permissions", false, "")
	fs.StringVarP(&f.bodyFile, "body-file", "F", "", "")
	fs.StringVar(&f.parent, "parent", "", "")
	fs.StringArrayVar(&f.detached, "add-detached-metadata-string", nil, "")
	fs.BoolVar(&f.orphan, "orphan", false, "")
	fs.BoolVar(&f.consume, "consume", false, "")
	fs.BoolVar(&f.bootable, "bootable", false, "")
	fs.StringVar(&f.statoverride, "statoverride", "", "")
	fs.StringVar(&f.skipList, "skip-list", "", "")
	fs.StringArrayVar(&f.keep, "keep-metadata", nil, "")
	fs.BoolVar(&f.skipUnchanged, "skip-if-unchanged", false, "")
	fs.BoolVar(&f.roExec, "mode-ro-executables", false, "")
	fs.BoolVar(&f.noXattr, "no-xattrs", false, "")
	fs.BoolVar(&f.generateSizes, "generate-sizes", false, "")
	fs.BoolVar(&f.tableOutput, "table-output", false, "")
	fs.IntVar(&f.ownerUID, "owner-uid", -1, "")
	fs.IntVar(&f.ownerGID, "owner-gid", -1, "")
	f.sign.register(fs)
}

func runCommit(e *env, f *commitFlags, args []string) error {
	layers, err := f.layers(args)
	if err != nil {
		return err
	}
	var dir, refRev string
	// --bootable looks into the tree as written: the layered path keeps
	// it in memory.
	if len(layers) == 1 && layers[0].kind == "dir" && !f.bootable {
		dir = layers[0].arg
	} else if len(layers) == 1 && layers[0].kind == "ref" && !f.bootable {
		refRev = layers[0].arg
	}
	if f.branch == "" && !f.orphan {
		return errors.New("A branch must be specified with --branch, or use --orphan")
	}
	if f.branch != "" {
		if err := repo.ValidateRef(f.branch); err != nil {
			return usagef("%v", err)
		}
	}
	o, err := f.options()
	if err != nil {
		return err
	}
	do, err := f.dirOptions()
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
	if o.Parent, err = f.parentCommit(r); err != nil {
		return err
	}
	if err := f.keepMetadata(r, &o); err != nil {
		return err
	}
	cf, err := loadCommitFilter(f.statoverride, f.skipList)
	if err != nil {
		return err
	}
	var check func() error
	if cf != nil {
		do.Filter = cf.apply
		check = func() error { return cf.unmatched(e.stderr) }
	}
	if f.bodyFile != "" {
		b, err := os.ReadFile(f.bodyFile)
		if err != nil {
			return err
		}
		o.Body = string(b)
	}
	detached, err := keyValueStrings(f.detached, "--add-detached-metadata-string")
	if err != nil {
		return err
	}
	var fromRef *[2]repo.Checksum
	var overlay func(tx *repo.Transaction) (tree, meta repo.Checksum, err error)
	var kernel func() (string, error)
	if refRev != "" && f.modifier(r, do) {
		refRev = "" // written again, entry by entry
	}
	if dir == "" && refRev == "" {
		if overlay, kernel, err = f.overlay(e, r, layers, do); err != nil {
			return err
		}
		if !f.bootable {
			kernel = nil
		}
	} else if refRev != "" {
		if fromRef, err = f.refTree(r, refRev); err != nil {
			return err
		}
	}
	// ostree generates sizes in archive repositories only.
	sizes := f.generateSizes && r.Mode() == repo.ModeArchive
	c, stats, err := commitTree(e, r, commitPlan{branch: f.branch, dir: dir, fromRef: fromRef, overlay: overlay, kernel: kernel, o: o, do: do, sign: s, detached: detached, skipUnchanged: f.skipUnchanged, check: check, sizes: sizes})
	if err != nil {
		// Once the transaction has ended: say what tmp/ holds and how
		// to release it, as a pull does.
		return r.ExplainNoSpace(err, 0)
	}
	if f.consume && len(layers) == 1 && layers[0].kind == "dir" {
		dir = layers[0].arg
		if err := consumeTree(dir); err != nil {
			return err
		}
	}
	if f.tableOutput {
		_, err = fmt.Fprintf(e.stdout, "Commit: %s\nMetadata Total: %d\nMetadata Written: %d\nContent Total: %d\nContent Written: %d\nContent Cache Hits: 0\nContent Bytes Written: %d\n",
			c, stats.MetadataTotal, stats.MetadataWritten, stats.ContentTotal, stats.ContentWritten, stats.ContentBytesWritten)
		return err
	}
	_, err = fmt.Fprintln(e.stdout, c)
	return err
}

// consumeTree deletes a committed directory, as ostree commit --consume
// does ("." keeps itself and loses its entries). ostree deletes each
// entry as it writes it; repofs only once the commit is durable, so a
// failed commit loses nothing.
func consumeTree(dir string) error {
	if filepath.Clean(dir) != "." {
		return os.RemoveAll(dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// parentCommit is --parent (a checksum, or "none"), else the branch's
// commit if it has one; an orphan without --parent has none (also when
// a branch is given).
func (f *commitFlags) parentCommit(r *repo.Repo) (*repo.Checksum, error) {
	switch {
	case f.parent == "none":
		return nil, nil
	case f.parent != "":
		c, err := repo.ParseChecksum(f.parent)
		if err != nil {
			return nil, err
		}
		return &c, nil
	case f.orphan: // even with a branch, as ostree
		return nil, nil
	}
	if c, err := r.ReadRef("", f.branch); err == nil {
		return &c, nil
	}
	return nil, nil
}

// keepMetadata copies the --keep-metadata keys of the parent's metadata
// after the others, as ostree does.
func (f *commitFlags) keepMetadata(r *repo.Repo, o *repo.CommitOptions) error {
	if len(f.keep) == 0 {
		return nil
	}
	if o.Parent == nil {
		return errors.New("Either --branch or --parent must be specified when using --keep-metadata")
	}
	parent, err := r.ReadCommit(*o.Parent)
	if err != nil {
		return err
	}
	binding := o.Metadata[len(o.Metadata)-1] // ostree.ref-binding goes last
	md := o.Metadata[:len(o.Metadata)-1]
	for _, k := range f.keep {
		v, ok := parent.Metadata.Lookup(k)
		if !ok {
			return fmt.Errorf("Missing metadata key '%s' from commit '%s'", k, parent.Checksum)
		}
		md = append(md, gvariant.Entry{Key: k, Value: v})
	}
	o.Metadata = append(md, binding)
	return nil
}

// dirOptions are the tree options, refused together as ostree refuses them.
func (f *commitFlags) dirOptions() (repo.DirOptions, error) {
	do := repo.DirOptions{CanonicalPermissions: f.canonical, ROExecutables: f.roExec, NoXattrs: f.noXattr}
	if f.canonical && f.ownerUID > 0 {
		return do, errors.New("Cannot specify both --canonical-permissions and non-zero --owner-uid")
	}
	if f.canonical && f.ownerGID > 0 {
		return do, errors.New("Cannot specify both --canonical-permissions and non-zero --owner-gid")
	}
	if f.ownerUID >= 0 {
		u := uint32(f.ownerUID)
		do.UID = &u
	}
	if f.ownerGID >= 0 {
		g := uint32(f.ownerGID)
		do.GID = &g
	}
	return do, nil
}

// keyValueStrings makes metadata of KEY=VALUE strings.
func keyValueStrings(kvs []string, opt string) (gvariant.Metadata, error) {
	var md gvariant.Metadata
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("%s needs KEY=VALUE, got %q", opt, kv)
		}
		md = append(md, gvariant.Entry{Key: k, Value: gvariant.StringVariant(v)})
	}
	return md, nil
}

// treeLayer is one --tree: its kind (dir, tar, ref) and argument.
type treeLayer struct{ kind, arg string }

// layers are the --tree options in order, or the one PATH argument.
func (f *commitFlags) layers(args []string) ([]treeLayer, error) {
	switch {
	case len(f.trees) > 0 && len(args) == 0:
	case len(f.trees) == 0 && len(args) == 1:
		return []treeLayer{{"dir", args[0]}}, nil
	default:
		return nil, usagef("commit needs a tree: --tree=dir=PATH, --tree=tar=FILE, --tree=ref=REV (repeatable) or PATH")
	}
	var out []treeLayer
	for _, t := range f.trees {
		typ, arg, ok := strings.Cut(t, "=")
		if !ok {
			return nil, fmt.Errorf("Missing type in tree specification '%s'", t)
		}
		switch typ {
		case "dir", "tar", "ref":
		default:
			return nil, fmt.Errorf("Invalid tree type specification '%s'", typ)
		}
		out = append(out, treeLayer{typ, arg})
	}
	return out, nil
}

// overlay returns what writes the layers one over the other, as ostree
// does with several --tree options or a tar.
// The second function finds the kernel release in the tree written.
func (f *commitFlags) overlay(e *env, r *repo.Repo, layers []treeLayer, do repo.DirOptions) (func(tx *repo.Transaction) (repo.Checksum, repo.Checksum, error), func() (string, error), error) {
	to := repo.TarOptions{AutocreateParents: f.tarAutocreate}
	if f.tarFilter != "" {
		tr, err := tarPathnameFilter(f.tarFilter)
		if err != nil {
			return nil, nil, err
		}
		to.Translate = tr
	}
	refs := make([]*[2]repo.Checksum, len(layers))
	for i, l := range layers {
		if l.kind == "ref" {
			var err error
			if refs[i], err = f.refTree(r, l.arg); err != nil {
				return nil, nil, err
			}
		}
	}
	mt := repo.NewMutableTree()
	return func(tx *repo.Transaction) (repo.Checksum, repo.Checksum, error) {
		var zero repo.Checksum
		for i, l := range layers {
			if tx.RecordsSizes() {
				tx.RecordSizes() // afresh for each tree, as ostree
			}
			var err error
			switch l.kind {
			case "dir":
				err = tx.WriteDirectoryInto(e.ctx, l.arg, mt, do)
			case "ref":
				if f.modifier(r, do) {
					err = tx.RewriteTreeInto(e.ctx, refs[i][0], refs[i][1], mt, do)
				} else {
					err = r.OverlayTree(mt, refs[i][0], refs[i][1])
				}
			case "tar":
				err = writeTarFile(e, tx, l.arg, mt, do, to)
			}
			if err != nil {
				return zero, zero, err
			}
		}
		return tx.WriteMutableTree(mt)
	}, mt.KernelRelease, nil
}

// writeTarFile merges the tar at p ("-": standard input) into mt.
func writeTarFile(e *env, tx *repo.Transaction, p string, mt *repo.MutableTree, do repo.DirOptions, to repo.TarOptions) error {
	if p == "-" {
		return tx.WriteTar(e.ctx, os.Stdin, mt, do, to)
	}
	file, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("commit --tree=tar=: %w", err)
	}
	defer file.Close()
	if err := tx.WriteTar(e.ctx, file, mt, do, to); err != nil {
		return fmt.Errorf("commit %s: %w", p, err)
	}
	return nil
}

// tarPathnameFilter parses --tar-pathname-filter=REGEX,REPLACEMENT: each
// match of REGEX in a path is replaced, \N standing for group N as in
// GLib's g_regex_replace.
func tarPathnameFilter(s string) (func(string) string, error) {
	expr, repl, ok := strings.Cut(s, ",")
	if !ok {
		return nil, errors.New("Missing ',' in --tar-pathname-filter")
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("--tar-pathname-filter: %w", err)
	}
	return func(p string) string {
		var b strings.Builder
		last := 0
		for _, m := range re.FindAllStringSubmatchIndex(p, -1) {
			b.WriteString(p[last:m[0]])
			for i := 0; i < len(repl); i++ {
				c := repl[i]
				if c == '\\' && i+1 < len(repl) {
					n := repl[i+1]
					if n >= '0' && n <= '9' {
						g := int(n - '0')
						if 2*g+1 < len(m) && m[2*g] >= 0 {
							b.WriteString(p[m[2*g]:m[2*g+1]])
						}
						i++
						continue
					}
					if n == '\\' {
						b.WriteByte('\\')
						i++
						continue
					}
				}
				b.WriteByte(c)
			}
			last = m[1]
		}
		b.WriteString(p[last:])
		return b.String()
	}, nil
}

// modifier reports whether ostree commits through a commit modifier,
// which makes it write a --tree=ref= tree again, entry by entry, rather
// than take it whole: any option that changes entries, --generate-sizes,
// --consume, or a bare-user-only repository (which drops xattrs).
func (f *commitFlags) modifier(r *repo.Repo, do repo.DirOptions) bool {
	return do.CanonicalPermissions || do.UID != nil || do.GID != nil || do.ROExecutables || do.NoXattrs ||
		do.Filter != nil || f.generateSizes || f.consume || r.Mode() == repo.ModeBareUserOnly
}

// refTree returns the root of the commit rev names.
func (f *commitFlags) refTree(r *repo.Repo, rev string) (*[2]repo.Checksum, error) {
	c, err := r.ResolveRev(rev)
	if err != nil {
		return nil, err
	}
	commit, err := r.ReadCommit(c)
	if err != nil {
		return nil, err
	}
	return &[2]repo.Checksum{commit.RootTree, commit.RootMeta}, nil
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
	md, err := keyValueStrings(f.metadata, "--add-metadata-string")
	if err != nil {
		return o, err
	}
	// ostree adds the --add-metadata values after the strings.
	for _, kv := range f.metaVariants {
		k, text, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return o, usagef("--add-metadata needs KEY=VALUE, got %q", kv)
		}
		v, err := gvariant.ParseText(text)
		if err != nil {
			return o, fmt.Errorf("Parsing %s (--add-metadata): %w", kv, err)
		}
		md = append(md, gvariant.Entry{Key: k, Value: gvariant.Variant{Type: v.Type, Data: gvariant.Encode(v)}})
	}
	var refs []string // an orphan's is empty, as in ostree
	if f.branch != "" {
		refs = []string{f.branch}
	}
	o.Metadata = append(md, gvariant.Entry{Key: "ostree.ref-binding", Value: gvariant.StringsVariant(refs)})
	return o, nil
}

// commitPlan is what commitTree writes.
type commitPlan struct {
	branch, dir   string                                                           // branch "": an orphan
	fromRef       *[2]repo.Checksum                                                // --tree=ref=: its root dirtree and dirmeta, instead of dir
	overlay       func(tx *repo.Transaction) (tree, meta repo.Checksum, err error) // several trees or a tar, instead of dir
	kernel        func() (string, error)                                           // --bootable: the tree's kernel release
	o             repo.CommitOptions
	do            repo.DirOptions
	sign          *signer // nil: unsigned
	detached      gvariant.Metadata
	skipUnchanged bool
	check         func() error // after the tree is written; nil: none
	sizes         bool         // --generate-sizes (in an archive repository)
}

// commitTree commits p.dir (to p.branch unless it is an orphan) in one
// transaction and returns the commit and the transaction's counts; with
// skipUnchanged, a tree equal to the parent's writes nothing and returns
// the parent (and no counts).
func commitTree(e *env, r *repo.Repo, p commitPlan) (repo.Checksum, repo.TransactionStats, error) {
	var zero repo.Checksum
	var none repo.TransactionStats
	tx, err := r.Begin(e.ctx)
	if err != nil {
		return zero, none, err
	}
	defer tx.Abort()
	if p.sizes {
		tx.RecordSizes()
	}
	var tree, meta repo.Checksum
	if p.fromRef != nil {
		tree, meta = p.fromRef[0], p.fromRef[1]
	} else if p.overlay != nil {
		if tree, meta, err = p.overlay(tx); err != nil {
			return zero, none, err
		}
	} else if tree, meta, err = tx.WriteDirectory(e.ctx, p.dir, p.do); err != nil {
		return zero, none, err
	}
	if p.check != nil {
		if err := p.check(); err != nil {
			return zero, none, err
		}
	}
	if p.skipUnchanged && p.o.Parent != nil {
		parent, err := r.ReadCommit(*p.o.Parent)
		if err != nil {
			return zero, none, err
		}
		if parent.RootTree == tree && parent.RootMeta == meta {
			return *p.o.Parent, none, nil
		}
	}
	if p.kernel != nil {
		rel, err := p.kernel()
		if err != nil {
			return zero, none, err
		}
		// ostree passes the metadata through a GVariantDict here.
		p.o.Metadata = gvariant.DictOrder(append(p.o.Metadata,
			gvariant.Entry{Key: "ostree.bootable", Value: gvariant.BoolVariant(true)},
			gvariant.Entry{Key: "ostree.linux", Value: gvariant.StringVariant(rel)}))
	}
	if se := repo.SizesMetadata(tx.CommitSizes()); se != nil {
		// ostree adds them last, to the metadata as it stands.
		p.o.Metadata = append(p.o.Metadata[:len(p.o.Metadata):len(p.o.Metadata)], *se)
	}
	c, err := tx.WriteCommit(p.o, tree, meta)
	if err != nil {
		return zero, none, err
	}
	if p.detached != nil {
		if err := tx.WriteCommitMeta(c, p.detached); err != nil {
			return zero, none, err
		}
	}
	if p.sign != nil {
		if err := p.sign.signCommit(tx, c); err != nil {
			return zero, none, err
		}
	}
	if p.branch != "" {
		if err := tx.SetRef("", p.branch, c); err != nil {
			return zero, none, err
		}
	}
	if err := tx.Commit(e.ctx); err != nil {
		return zero, none, err
	}
	return c, tx.Stats(), nil
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
