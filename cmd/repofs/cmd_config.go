package main

import (
	"errors"
	"fmt"
	"strings"

	flag "github.com/spf13/pflag"
)

var configCommand = &command{
	name:    "config",
	summary: "Get, set or unset a setting of the repository's config",
	usage:   "[--group=GROUP] get KEY | set KEY VALUE | unset KEY",
	help: `KEY is GROUP.NAME (split at the first dot), or NAME with --group. The
file is read and rewritten as ostree does with GLib's keyfile: comments
and blank lines do not survive a set or unset, values are escaped as
GLib escapes them, and the result is byte for byte what 'ostree config'
writes. Unsetting a key that is not there changes nothing.

Options:
  --group=GROUP    the group of KEY (for groups with dots, such as
                   'remote "origin"')

Examples:
  repofs --repo=repo config get core.mode
  repofs --repo=repo config set core.min-free-space-percent 5
  repofs --repo=repo config --group='remote "origin"' set gpg-verify false
  repofs --repo=repo config unset core.lock-timeout-secs`,
	setup: withFlags((*configFlags).register, runConfig),
}

type configFlags struct{ group string }

func (f *configFlags) register(fs *flag.FlagSet) { fs.StringVar(&f.group, "group", "", "") }

func runConfig(e *env, f *configFlags, args []string) error {
	r, err := e.openRepo()
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return errors.New("OPERATION must be specified")
	}
	op := args[0]
	maxArgs := 2
	if op == "set" {
		maxArgs = 3
	}
	if len(args) > maxArgs {
		return errors.New("Too many arguments given")
	}
	switch op {
	case "set":
		if len(args) < 3 {
			if f.group != "" {
				return errors.New("GROUP name, KEY and VALUE must be specified")
			}
			return errors.New("KEY and VALUE must be specified")
		}
	case "get", "unset":
		if len(args) < 2 {
			if f.group != "" {
				return errors.New("Group name and key must be specified")
			}
			return errors.New("KEY must be specified")
		}
	default:
		return fmt.Errorf("Unknown operation %s", op)
	}
	group, key, err := configKey(f.group, args[1])
	if err != nil {
		return err
	}
	k, err := r.ReadKeyFile()
	if err != nil {
		return err
	}
	switch op {
	case "get":
		v, err := k.GetString(group, key)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.stdout, v)
		return err
	case "set":
		k.SetString(group, key, args[2])
	case "unset":
		if err := k.Remove(group, key); err != nil {
			return nil // as ostree: nothing to remove, nothing written
		}
	}
	return r.WriteKeyFile(k)
}

// configKey splits GROUP.NAME, or takes NAME as it is when the group is
// given with --group.
func configKey(group, arg string) (string, string, error) {
	if group != "" {
		return group, arg, nil
	}
	g, k, ok := strings.Cut(arg, ".")
	if !ok {
		return "", "", errors.New(`Key must be of the form "sectionname.keyname"`)
	}
	return g, k, nil
}
