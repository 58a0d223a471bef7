package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// printVersion prints the version on the first line, then what the Go
// toolchain recorded in the binary: the module's version, the VCS
// revision it was built from (and whether the tree had changes), and Go.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "repofs %s\n", version)
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	fmt.Fprintf(w, "module: %s %s\n", bi.Main.Path, bi.Main.Version)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if settings["vcs.modified"] == "true" {
			rev += " (modified)"
		}
		if t := settings["vcs.time"]; t != "" {
			rev += " " + t
		}
		fmt.Fprintf(w, "revision: %s\n", rev)
	}
	fmt.Fprintf(w, "go: %s\n", bi.GoVersion)
}
