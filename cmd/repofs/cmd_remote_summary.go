package main

import (
	"bufio"
	"fmt"
	"time"

	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
)

// runRemoteRefs prints the refs of the remote's summary as NAME:REF, and
// those of every subsummary of its Flatpak summary index.
func runRemoteRefs(e *env, r *repo.Repo, args []string) error {
	if err := needArgs("refs", args, 1, "a NAME"); err != nil {
		return err
	}
	names, err := pull.RemoteRefs(e.ctx, r, args[0])
	if err != nil {
		return err
	}
	// One write per buffer, not per ref: a mirror's summary lists a
	// hundred thousand.
	w := bufio.NewWriterSize(e.stdout, 64<<10)
	for _, n := range names {
		w.WriteString(args[0])
		w.WriteByte(':')
		w.WriteString(n)
		w.WriteByte('\n')
	}
	return w.Flush()
}

func runRemoteSummary(e *env, r *repo.Repo, args []string) error {
	if err := needArgs("summary", args, 1, "a NAME"); err != nil {
		return err
	}
	s, err := pull.FetchSummary(e.ctx, r, args[0])
	if err != nil {
		return err
	}
	printSummary(e, s)
	return nil
}

// printSummary prints a summary as `ostree remote summary` does.
func printSummary(e *env, s *repo.Summary) {
	const stamp = "2006-01-02T15:04:05-07"
	for _, ref := range s.Refs {
		fmt.Fprintf(e.stdout, "* %s\n    Latest Commit (%d bytes):\n      %s\n", ref.Name, ref.CommitSize, ref.Commit)
		for _, m := range ref.Metadata {
			switch m.Key {
			case "ostree.commit.timestamp":
				if ts, err := m.Value.Uint64BE(); err == nil {
					fmt.Fprintf(e.stdout, "    Timestamp (%s): %s\n", m.Key, time.Unix(int64(ts), 0).UTC().Format(stamp))
					continue
				}
			case "ostree.commit.version":
				if v, err := m.Value.String(); err == nil {
					fmt.Fprintf(e.stdout, "    Version (%s): %s\n", m.Key, v)
					continue
				}
			}
			fmt.Fprintf(e.stdout, "    %s: %s\n", m.Key, m.Value.Print())
		}
		fmt.Fprintln(e.stdout)
	}
	for _, m := range s.Metadata {
		switch m.Key {
		case "ostree.summary.mode":
			v, _ := m.Value.String()
			fmt.Fprintf(e.stdout, "Repository Mode (%s): %s\n", m.Key, v)
		case "ostree.summary.last-modified":
			if ts, err := m.Value.Uint64BE(); err == nil {
				fmt.Fprintf(e.stdout, "Last-Modified (%s): %s\n", m.Key, time.Unix(int64(ts), 0).UTC().Format(stamp))
			}
		case "ostree.summary.tombstone-commits":
			yes := "No"
			if m.Value.Print() == "true" {
				yes = "Yes"
			}
			fmt.Fprintf(e.stdout, "Has Tombstone Commits (%s): %s\n", m.Key, yes)
		default:
			fmt.Fprintf(e.stdout, "%s: %s\n", m.Key, m.Value.Print())
		}
	}
}
