package main

import flag "github.com/spf13/pflag"

// command is one subcommand: its help texts and how to run it.
type command struct {
	name    string
	summary string
	usage   string // arguments, after the command name
	help    string // details and examples
	// run runs a command without options; setup registers a command's
	// options on a fresh FlagSet and returns its run function, so each
	// invocation has its own option values.
	run   runFunc
	setup func(fs *flag.FlagSet) runFunc
}

// runFunc runs a command with its arguments (what follows its options).
type runFunc func(e *env, args []string) error

// withFlags makes a command's setup from its options type F: register
// adds the options to the FlagSet, run runs the command with their values.
func withFlags[F any](register func(*F, *flag.FlagSet), run func(*env, *F, []string) error) func(*flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		f := new(F)
		register(f, fs)
		return func(e *env, args []string) error { return run(e, f, args) }
	}
}

// commands are every command, in the order 'repofs --help' lists them:
// setting up and fetching, mounting, looking, writing, checking, then the
// helpers.
var commands = []*command{
	initCommand, configCommand, remoteCommand, pullCommand, pullLocalCommand, mountCommand,
	refsCommand, logCommand, showCommand, lsCommand, catCommand, diffCommand, checkoutCommand, exportCommand, revParseCommand,
	checksumCommand,
	commitCommand, resetCommand, summaryCommand, signCommand, gpgSignCommand,
	fsckCommand, pruneCommand, cleanupCommand, staticDeltaCommand, demoCommand, completionCommand, manCommand,
}

// findCommand returns the command called name, or nil.
func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}
