package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestCompletion checks that each script names every command and the
// options commands register, and that the shells at hand parse it.
func TestCompletion(t *testing.T) {
	for _, shell := range []struct {
		name  string
		write func(*bytes.Buffer)
		check []string // a syntax check: the shell and its arguments
	}{
		{"bash", func(b *bytes.Buffer) { writeBashCompletion(b) }, []string{"bash", "-n"}},
		{"zsh", func(b *bytes.Buffer) { writeZshCompletion(b) }, []string{"zsh", "-n"}},
		{"fish", func(b *bytes.Buffer) { writeFishCompletion(b) }, []string{"fish", "--no-execute"}},
	} {
		var b bytes.Buffer
		shell.write(&b)
		script := b.String()
		for _, c := range commands {
			if !strings.Contains(script, c.name) {
				t.Errorf("%s: no command %s", shell.name, c.name)
			}
		}
		for _, opt := range []string{"pull", "log-format", "parallel", "mode"} {
			if !strings.Contains(script, opt) {
				t.Errorf("%s: no option --%s", shell.name, opt)
			}
		}
		if _, err := exec.LookPath(shell.check[0]); err != nil {
			t.Logf("%s not installed: syntax not checked", shell.check[0])
			continue
		}
		cmd := exec.Command(shell.check[0], shell.check[1:]...)
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s rejects its script: %v\n%s", shell.name, err, out)
		}
	}
}

func TestManPage(t *testing.T) {
	var b bytes.Buffer
	writeMan(&b)
	page := b.String()
	for _, want := range []string{".TH REPOFS 1", ".SH COMMANDS", `.SS repofs mount`, `\-\-pull=REMOTE`} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
	for i, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, ".") && !strings.HasPrefix(line, ".TH") && !strings.HasPrefix(line, ".SH") &&
			!strings.HasPrefix(line, ".SS") && !strings.HasPrefix(line, ".PP") && !strings.HasPrefix(line, ".nf") &&
			!strings.HasPrefix(line, ".fi") && !strings.HasPrefix(line, ".B") {
			t.Errorf("line %d is an unexpected request: %q", i+1, line)
		}
	}
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = &b
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff: %v\n%s", err, out)
		}
	}
}
