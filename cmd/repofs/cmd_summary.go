package main

import flag "github.com/spf13/pflag"

var summaryCommand = &command{
	name:    "summary",
	summary: "Regenerate the summary file",
	usage:   "-u [--sign=KEY | --gpg-sign=KEY-ID …]",
	help: `Writes summary from refs/heads with the metadata keys ostree writes, so
HTTP clients (ostree or repofs) can pull from this repository. With signing
options it writes summary.sig too (clients with gpg-verify-summary or
sign-verify-summary need it); without, it removes a stale summary.sig.

Options:
` + signFlagsHelp + `

Examples:
  repofs --repo=repo summary -u
  repofs --repo=repo summary -u --gpg-sign=0123456789ABCDEF --gpg-keys-file=secret.gpg`,
	setup: withFlags((*summaryFlags).register, runSummary),
}

type summaryFlags struct {
	update bool
	sign   signFlags
}

func (f *summaryFlags) register(fs *flag.FlagSet) {
	fs.BoolVarP(&f.update, "update", "u", false, "")
	f.sign.register(fs)
}

func runSummary(e *env, f *summaryFlags, args []string) error {
	if !f.update || len(args) != 0 {
		return usagef("summary needs -u")
	}
	s, err := f.sign.load()
	if err != nil {
		return err
	}
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	if s != nil {
		return r.UpdateSummarySigned(e.ctx, nowFunc(), s.summarySig)
	}
	return r.UpdateSummary(e.ctx, nowFunc())
}
