package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	flag "github.com/spf13/pflag"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/delta"
	"github.com/repofs/repofs/repo/sign"
)

var staticDeltaCommand = &command{
	name:    "static-delta",
	summary: "Generate, list, show, delete, apply, verify and index static deltas",
	usage:   "generate|list|show|delete|apply-offline|verify|indexes|reindex …",
	help: `Subcommands, with the options and output of 'ostree static-delta':
  generate [--from=REV | --empty] --to=REV [--inline] [--disable-bsdiff]
           [--min-fallback-size=MB] [--max-chunk-size=MB] [--max-bsdiff-size=MB]
           [-n|--if-not-exists] [--filename=PATH]
           [--set-endianness=l|B] [--swap-endianness]
           [--sign=KEY]… [--keys-file=FILE] [--sign-type=ed25519]
                    write deltas/…: the objects of REV that the from-commit
                    (default: REV's parent) lacks, in xz-compressed parts;
                    modified files as bsdiff patches; files over
                    --min-fallback-size (default 4; 0: none) left to be
                    fetched on their own; parts of at most --max-chunk-size
                    (default 32); --inline puts the parts in the superblock;
                    --filename writes the superblock to PATH and the parts
                    beside it (into PATH when it is a directory) instead;
                    --set-endianness/--swap-endianness choose the byte order
                    of the superblock's sizes (default l)
  list              the deltas, FROM-TO or TO (from nothing)
  show DELTA        the superblock and its parts, as ostree prints them
  delete DELTA      remove a delta
  apply-offline PATH [KEY…] [--keys-file=FILE] [--keys-dir=DIR]
                    apply the delta whose superblock (or directory) is PATH;
                    with keys (base64 ed25519 public keys) its signature
                    must verify
  verify DELTA [KEY…] [--keys-file=FILE] [--keys-dir=DIR]
                    check a signed delta's ed25519 signature
  indexes           the commits delta-indexes/ has an index for
  reindex [--to=CHECKSUM]
                    rewrite delta-indexes/ (of that commit only with --to)
                    from the deltas there are, removing stale indexes,
                    and set core.indexed-deltas=true in the config

Deltas are listed in the summary by 'repofs summary -u' (and in
delta-indexes/), where ostree and repofs pulls find them. Generation reads
every object verified and runs on every core. Megabytes are ostree's
(1000×1000 bytes).

Examples:
  repofs --repo=repo static-delta generate --to=os/main
  repofs --repo=repo static-delta generate --empty --to=os/main --inline
  repofs --repo=repo summary -u`,
	setup: withFlags((*staticDeltaFlags).register, runStaticDelta),
}

type staticDeltaFlags struct {
	from, to                         string
	empty, inline, noBsdiff, ifNotEx bool
	minFallback, maxChunk, maxBsdiff string
	keys                             []string
	keysFile, keysDir, signType      string
	filename, endianness             string
	swapEndian                       bool
	fs                               *flag.FlagSet
}

func (f *staticDeltaFlags) register(fs *flag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.from, "from", "", "")
	fs.StringVar(&f.to, "to", "", "")
	fs.BoolVar(&f.empty, "empty", false, "")
	fs.BoolVar(&f.inline, "inline", false, "")
	fs.BoolVar(&f.noBsdiff, "disable-bsdiff", false, "")
	fs.BoolVarP(&f.ifNotEx, "if-not-exists", "n", false, "")
	fs.StringVar(&f.minFallback, "min-fallback-size", "", "")
	fs.StringVar(&f.maxChunk, "max-chunk-size", "", "")
	fs.StringVar(&f.maxBsdiff, "max-bsdiff-size", "", "")
	fs.StringArrayVar(&f.keys, "sign", nil, "")
	fs.StringVar(&f.keysFile, "keys-file", "", "")
	fs.StringVar(&f.keysDir, "keys-dir", "", "")
	fs.StringVar(&f.signType, "sign-type", "ed25519", "")
	fs.StringVar(&f.filename, "filename", "", "")
	fs.StringVar(&f.endianness, "set-endianness", "", "")
	fs.BoolVar(&f.swapEndian, "swap-endianness", false, "")
}

func runStaticDelta(e *env, f *staticDeltaFlags, args []string) error {
	if len(args) == 0 {
		return usagef("static-delta needs a subcommand: generate, list, show, delete, apply-offline, verify, indexes or reindex")
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "generate":
		return deltaGenerate(e, r, f, args)
	case "list":
		if len(args) != 0 {
			return usagef("static-delta list takes no arguments")
		}
		// In directory order, as ostree lists them.
		deltas, err := r.StaticDeltasDirOrder()
		if err != nil {
			return err
		}
		if len(deltas) == 0 {
			fmt.Fprintln(e.stdout, "(No static deltas)")
		}
		for _, d := range deltas {
			fmt.Fprintln(e.stdout, d.Name())
		}
		return nil
	case "indexes":
		// Like ostree, extra arguments are ignored.
		idx, err := r.StaticDeltaIndexes()
		if err != nil {
			return err
		}
		if len(idx) == 0 {
			fmt.Fprintln(e.stdout, "(No static deltas indexes)")
		}
		for _, c := range idx {
			fmt.Fprintln(e.stdout, c)
		}
		return nil
	case "reindex":
		var to *string
		if f.fs.Changed("to") {
			to = &f.to
		}
		return r.ReindexStaticDeltas(e.ctx, to)
	case "show":
		if len(args) != 1 {
			return usagef("static-delta show needs DELTA")
		}
		return deltaShow(e.stdout, r, args[0])
	case "delete":
		if len(args) != 1 {
			return usagef("static-delta delete needs DELTA")
		}
		n, err := parseDeltaName(args[0])
		if err != nil {
			return err
		}
		if err := delta.Delete(r, n); errors.Is(err, delta.ErrNoDelta) {
			return fmt.Errorf("Can't find delta %s", args[0]) // ostree's words
		} else if err != nil {
			return err
		}
		return nil
	case "apply-offline":
		if len(args) == 0 {
			return usagef("static-delta apply-offline needs PATH")
		}
		if f.signType != "ed25519" {
			return errSignTypeUnknown
		}
		var verify func([]byte, delta.Signatures, bool) error
		if len(args) > 1 || f.keysFile != "" || f.keysDir != "" {
			keys, err := deltaKeys(f, args[1:])
			if err != nil {
				return err
			}
			verify = func(sb []byte, sigs delta.Signatures, signed bool) error {
				return verifySuperblock(keys, sb, sigs, signed)
			}
		}
		_, err := delta.ApplyOffline(e.ctx, r, args[0], delta.ApplyOptions{Verify: verify})
		return err
	case "verify":
		if len(args) == 0 {
			return usagef("static-delta verify needs DELTA")
		}
		if f.signType != "ed25519" {
			fmt.Fprintln(e.stdout, "Sign-type not supported")
			return errSignTypeUnknown
		}
		keys, err := deltaKeys(f, args[1:])
		if err != nil {
			return err
		}
		path, err := superblockPath(r, args[0])
		if err != nil {
			return err
		}
		_, sigs, raw, err := delta.ReadSuperblockFile(path)
		if err != nil {
			return err
		}
		if err := verifySuperblock(keys, raw, sigs, sigs != nil); err != nil {
			fmt.Fprintln(e.stdout, "Verification fails")
			return err
		}
		fmt.Fprintln(e.stdout, "Verification OK")
		return nil
	}
	return usagef("unknown static-delta subcommand %q: want generate, list, show, delete, apply-offline, verify, indexes or reindex", sub)
}

// ostreeMegabytes reads a size option as ostree does: g_ascii_strtoull
// in base 10 (leading blanks, an optional sign, digits up to the first
// other character, none read as 0, overflow as the largest value, a minus
// negating it modulo 2^64), cut to 32 bits (it travels as a GVariant u),
// in megabytes of 1000×1000 bytes. Anything but plain digits adds a
// warning to warn (printed once the delta is written: ostree accepts such
// values silently, and its first lines are kept).
func ostreeMegabytes(warn *[]string, name, v string, set bool, def uint64) uint64 {
	if !set {
		return def
	}
	s := strings.TrimLeft(v, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var n uint64
	overflow := false
	digits := 0
	for ; digits < len(s) && s[digits] >= '0' && s[digits] <= '9'; digits++ {
		d := uint64(s[digits] - '0')
		if n > (math.MaxUint64-d)/10 {
			overflow = true
		}
		n = n*10 + d
	}
	switch {
	case digits == 0:
		n = 0
	case overflow:
		n = math.MaxUint64
	case neg:
		n = -n
	}
	if v == "" || strings.TrimLeft(v, "0123456789") != "" || overflow || n > math.MaxUint32 {
		*warn = append(*warn, fmt.Sprintf("warning: --%s=%s is not a number of megabytes below 2^32; it was read as %d, as ostree does", name, v, uint32(n)))
	}
	return uint64(uint32(n)) * 1000 * 1000
}

// deltaEndianness is the byte order of a delta's superblock sizes, as
// ostree chooses it from --set-endianness and --swap-endianness: little
// (the order of repofs's GVariant encoding, ostree's host order on the
// machines it runs on) unless asked.
func deltaEndianness(f *staticDeltaFlags) (big bool, err error) {
	if f.fs.Changed("set-endianness") {
		switch f.endianness {
		case "l":
		case "B":
			big = true
		default:
			return false, fmt.Errorf("Invalid endianness '%s'", f.endianness)
		}
	}
	return big != f.swapEndian, nil
}

// errSignTypeUnknown is ostree's error for a --sign-type it has no
// signer for (ostree_sign_get_by_name).
var errSignTypeUnknown = errors.New("Requested signature type is not implemented")

// deltaOutput resolves --filename as ostree does: PATH is where the
// superblock goes, its parts beside it in PATH's directory, which must
// exist. A PATH that is an existing directory (which ostree's help text
// promises but 2022.7 fails on, renaming the superblock onto the
// directory after writing the parts next to it) gets the superblock and
// parts inside it, as a delta directory has them.
func deltaOutput(path string) (dir, name string, err error) {
	if path == "" {
		return "", "", errors.New("Invalid 'filename' parameter")
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return path, "superblock", nil
	}
	dir, name = filepath.Dir(path), filepath.Base(path)
	// ostree's words (glnx_opendirat, glibc's strerror).
	switch st, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return "", "", fmt.Errorf("opendir(%s): No such file or directory", dir)
	case err != nil:
		return "", "", fmt.Errorf("opendir(%s): %w", dir, err)
	case !st.IsDir():
		return "", "", fmt.Errorf("opendir(%s): Not a directory", dir)
	}
	return dir, name, nil
}

// resolveDeltaRev resolves a --from or --to revision; an empty one (or
// the parent of one, --to= without --from) fails as in ostree, whose
// resolver takes it for an ambiguous checksum prefix.
func resolveDeltaRev(r *repo.Repo, rev string) (repo.Checksum, error) {
	if strings.TrimRight(rev, "^") == "" {
		return repo.Checksum{}, errors.New("Refspec  not unique")
	}
	return r.ResolveRev(rev)
}

func deltaGenerate(e *env, r *repo.Repo, f *staticDeltaFlags, args []string) error {
	toSet := f.fs.Changed("to")
	to := f.to
	if !toSet && len(args) > 0 {
		to, toSet = args[0], true
	}
	if !toSet {
		return errors.New("TO revision must be specified")
	}
	fromSet := f.fs.Changed("from")
	if f.empty && fromSet {
		return errors.New("Cannot specify both --empty and --from=REV")
	}
	var o delta.GenerateOptions
	var err error
	o.Name.Scratch = f.empty
	if !f.empty {
		from := f.from
		if !fromSet {
			from = to + "^"
		}
		if o.Name.From, err = resolveDeltaRev(r, from); err != nil {
			return err
		}
	}
	if o.Name.To, err = resolveDeltaRev(r, to); err != nil {
		return err
	}
	if f.ifNotEx {
		if _, err := os.Stat(filepath.Join(r.Path(), o.Name.SuperblockPath())); err == nil {
			fmt.Fprintf(e.stdout, "Delta %s already exists.\n", o.Name)
			return nil
		}
	}
	if o.BigEndian, err = deltaEndianness(f); err != nil {
		return err
	}
	var warnings []string
	o.MinFallbackSize = ostreeMegabytes(&warnings, "min-fallback-size", f.minFallback, f.fs.Changed("min-fallback-size"), delta.DefaultMinFallbackSize)
	o.MaxChunkSize = ostreeMegabytes(&warnings, "max-chunk-size", f.maxChunk, f.fs.Changed("max-chunk-size"), delta.DefaultMaxChunkSize)
	o.MaxBsdiffSize = ostreeMegabytes(&warnings, "max-bsdiff-size", f.maxBsdiff, f.fs.Changed("max-bsdiff-size"), delta.DefaultMaxBsdiffSize)
	if o.MaxChunkSize == 0 {
		// ostree then starts a part before every object but the first
		// of a part: one byte does the same here (GenerateOptions reads
		// 0 as the default).
		o.MaxChunkSize = 1
	}
	o.Inline = f.inline
	// ostree diffs only files that, with their old version, fit in
	// max-bsdiff-size; with 0 none do (GenerateOptions reads 0 as no
	// limit).
	o.DisableBsdiff = f.noBsdiff || o.MaxBsdiffSize == 0
	fmt.Fprintln(e.stdout, "Generating static delta:")
	if o.Name.Scratch {
		fmt.Fprintln(e.stdout, "  From: empty")
	} else {
		fmt.Fprintf(e.stdout, "  From: %s\n", o.Name.From)
	}
	fmt.Fprintf(e.stdout, "  To:   %s\n", o.Name.To)
	// ostree checks these as it starts generating, after the lines
	// above; it finds a sign type it does not know only when it signs,
	// at the end, repofs before it writes anything.
	if f.fs.Changed("filename") {
		if o.Dir, o.SuperblockName, err = deltaOutput(f.filename); err != nil {
			return err
		}
	}
	if f.signType == "" {
		return errors.New("Invalid 'sign-name' parameter")
	}
	if (len(f.keys) > 0 || f.keysFile != "") && f.signType != "ed25519" {
		return errSignTypeUnknown
	}
	var secret []ed25519.PrivateKey
	for _, k := range f.keys {
		sk, err := sign.ParseEd25519SecretKey(k)
		if err != nil {
			return usagef("--sign: %v", err)
		}
		secret = append(secret, sk)
	}
	if f.keysFile != "" {
		data, err := os.ReadFile(f.keysFile)
		if err != nil {
			return fmt.Errorf("--keys-file: %w", err)
		}
		sks, err := sign.ParseEd25519SecretKeys(data)
		if err != nil {
			return fmt.Errorf("--keys-file=%s: %w", f.keysFile, err)
		}
		secret = append(secret, sks...)
	}
	if len(secret) > 0 {
		o.Sign = func(sb []byte) (string, [][]byte, error) {
			var sigs [][]byte
			for _, k := range secret {
				sigs = append(sigs, sign.SignEd25519(k, sb))
			}
			return sign.KeyEd25519, sigs, nil
		}
	}
	g, err := delta.Generate(e.ctx, r, o)
	if err != nil {
		return err
	}
	// ostree's verbose lines, in its order (its part lines come as each
	// part is closed, so may come before the others).
	fmt.Fprintf(e.stderr, "modified: %d\n", g.Modified)
	newMeta := g.NewMetadata
	if o.Name.Scratch || o.Name.From != o.Name.To {
		newMeta++ // ostree counts the to-commit, then ships it in the superblock
	}
	fmt.Fprintf(e.stderr, "new reachable: metadata=%d content regular=%d symlink=%d\n", newMeta, g.NewFiles, g.NewSymlinks)
	fmt.Fprintf(e.stderr, "rollsum for %d/%d modified\n", g.Copied, g.Modified)
	for i, mod := 0, g.Bsdiff/10; i < g.Bsdiff; i++ {
		if mod == 0 || i%mod == 0 {
			fmt.Fprintf(e.stderr, "processing bsdiff: [%d/%d]\n", i, g.Bsdiff)
		}
	}
	for i, fb := range g.Fallbacks {
		fmt.Fprintf(e.stderr, "fallback for %s (%s)\n", fb.Checksum, repo.FormatSize(g.FallbackStreamSizes[i]))
	}
	var size, usize uint64
	for i, p := range g.Parts {
		fmt.Fprintf(e.stderr, "part %d n:%d compressed:%d uncompressed:%d\n", i+1, len(p.Objects), p.Size, p.USize)
		size += p.Size
		usize += p.USize
	}
	fmt.Fprintf(e.stderr, "uncompressed=%d compressed=%d loose=%d\n", usize, size, g.Loose)
	fmt.Fprintf(e.stderr, "rollsum=%d objects, %d bytes\n", g.Copied, g.CopiedBytes)
	fmt.Fprintf(e.stderr, "bsdiff=%d objects\n", g.Bsdiff)
	for _, w := range warnings {
		fmt.Fprintln(e.stderr, w)
	}
	return nil
}

// superblockPath is where DELTA's superblock is: a path when it has a
// slash, else a delta name of the repository.
func superblockPath(r *repo.Repo, id string) (string, error) {
	if strings.Contains(id, "/") {
		return id, nil
	}
	n, err := parseDeltaName(id)
	if err != nil {
		return "", err
	}
	return filepath.Join(r.Path(), n.SuperblockPath()), nil
}

// parseDeltaName reads "FROM-TO" or "TO", failing on a part that is not
// a checksum with ostree's message (_ostree_parse_delta_name).
func parseDeltaName(id string) (delta.Name, error) {
	from, to, dash := strings.Cut(id, "-")
	if err := repo.ValidateChecksumString(from); err != nil {
		return delta.Name{}, err
	}
	if dash {
		if err := repo.ValidateChecksumString(to); err != nil {
			return delta.Name{}, err
		}
	}
	n, _ := delta.ParseName(id)
	return n, nil
}

// deltaKeys loads the ed25519 public keys verify and apply-offline trust:
// those given, those of --keys-file, and, when neither names any, those
// of --keys-dir or the system directories, as ostree does.
func deltaKeys(f *staticDeltaFlags, args []string) (*sign.Ed25519Keys, error) {
	keys := &sign.Ed25519Keys{}
	for _, a := range args {
		pk, err := sign.ParseEd25519PublicKey(a)
		if err != nil {
			return nil, usagef("public key %q: %v", a, err)
		}
		keys.Trusted = append(keys.Trusted, pk)
	}
	if f.keysFile != "" {
		if err := keys.AddFile(f.keysFile); err != nil {
			return nil, err
		}
	}
	if len(args) == 0 {
		if f.keysDir != "" {
			keys.AddSystemDirs(f.keysDir)
		} else if f.keysFile == "" {
			keys.AddSystemDirs()
		}
	}
	return keys, nil
}

// errUnsigned means a delta to verify carries no signature.
var errUnsigned = errors.New("static delta is not signed")

func verifySuperblock(keys *sign.Ed25519Keys, sb []byte, sigs delta.Signatures, signed bool) error {
	if !signed {
		return errUnsigned
	}
	list, err := sigs.Get(sign.KeyEd25519)
	if err != nil {
		return err
	}
	_, err = keys.VerifyEd25519(sb, list)
	return err
}

// deltaShow prints a delta as 'ostree static-delta show' does.
func deltaShow(w io.Writer, r *repo.Repo, id string) error {
	path, err := superblockPath(r, id)
	if err != nil {
		return err
	}
	sb, sigs, _, err := delta.ReadSuperblockFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		// ostree's words: the path relative to the repository.
		rel := path
		if !strings.Contains(id, "/") {
			rel, _ = filepath.Rel(r.Path(), path)
		}
		return fmt.Errorf("openat(%s): No such file or directory", rel)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Delta: %s\n", id)
	fmt.Fprintf(w, "Signed: %s\n", map[bool]string{true: "yes", false: "no"}[sigs != nil])
	if sb.Name.Scratch {
		fmt.Fprintln(w, "From <scratch>")
	} else {
		fmt.Fprintf(w, "From: %s\n", sb.Name.From)
	}
	fmt.Fprintf(w, "To: %s\n", sb.Name.To)
	endian := "little"
	if sb.Swapped {
		endian = "big"
	}
	if _, ok := sb.Metadata.Lookup("ostree.endianness"); !ok {
		endian += " (heuristic)"
	}
	fmt.Fprintf(w, "Endianness: %s\n", endian)
	fmt.Fprintf(w, "Timestamp: %d\n", sb.Timestamp)
	fmt.Fprintln(w, "Number of parents: 0")
	fmt.Fprintf(w, "Number of fallback entries: %d\n", len(sb.Fallbacks))
	var fsize, fusize uint64
	for _, f := range sb.Fallbacks {
		fmt.Fprintf(w, "  %s\n", f.Checksum)
		fsize += f.Size
		fusize += f.USize
	}
	fmt.Fprintf(w, "Total Fallback Size: %d (%s)\n", fsize, repo.FormatSize(uint64(fsize)))
	fmt.Fprintf(w, "Total Fallback Uncompressed Size: %d (%s)\n", fusize, repo.FormatSize(uint64(fusize)))
	fmt.Fprintf(w, "Number of parts: %d\n", len(sb.Parts))
	var size, usize uint64
	dir := filepath.Dir(path)
	for i := range sb.Parts {
		h := &sb.Parts[i]
		size += h.Size
		usize += h.USize
		fmt.Fprintf(w, "PartMeta%d: nobjects=%d size=%d usize=%d\n", i, len(h.Objects), h.Size, h.USize)
		file := sb.InlinePart(i)
		if file == nil {
			if file, err = os.ReadFile(filepath.Join(dir, strconv.Itoa(i))); err != nil {
				return fmt.Errorf("part %d: %w", i, err)
			}
		}
		p, err := delta.DecodePart(file, delta.Limit(h))
		if err != nil {
			return fmt.Errorf("part %d: %w", i, err)
		}
		fmt.Fprintf(w, "PartPayload%d: nmodes=%d nxattrs=%d blobsize=%d opsize=%d\n", i, len(p.Modes), len(p.Xattrs), len(p.Blob), len(p.Ops))
		st, err := p.Execute(h.Objects, nil)
		p.Close()
		if err != nil {
			return fmt.Errorf("part %d: %w", i, err)
		}
		fmt.Fprintf(w, "PartPayloadOps%d: openspliceclose=%d open=%d write=%d setread=%d unsetread=%d close=%d bspatch=%d\n",
			i, st.SpliceClose, st.Open, st.Write, st.SetRead, st.UnsetRead, st.Close, st.Bspatch)
	}
	fmt.Fprintf(w, "Total Part Size: %d (%s)\n", size, repo.FormatSize(uint64(size)))
	fmt.Fprintf(w, "Total Part Uncompressed Size: %d (%s)\n", usize, repo.FormatSize(uint64(usize)))
	fmt.Fprintf(w, "Total Size: %d (%s)\n", size+fsize, repo.FormatSize(uint64(size+fsize)))
	fmt.Fprintf(w, "Total Uncompressed Size: %d (%s)\n", usize+fusize, repo.FormatSize(uint64(usize+fusize)))
	return nil
}
