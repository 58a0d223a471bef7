package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/pull"
)

// TestRemoteConfigLikeOstree runs the same remote commands with both tools
// on twin repositories: the config files stay byte-identical and the
// listings match.
func TestRemoteConfigLikeOstree(t *testing.T) {
	repotest.RequireOstree(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "ostree"), filepath.Join(dir, "repofs")
	repotest.Init(t, a, "bare-user")
	repotest.Init(t, b, "bare-user")
	steps := [][]string{
		{"remote", "add", "--no-gpg-verify", "origin", "https://example.com/repo", "os/main", "os/debug"},
		{"remote", "add", "--set=gpg-verify-summary=false", "--set=tls-permissive=true", "signed", "http://example.com/signed/"},
		{"remote", "add", "--no-gpg-verify", "--set=foo=bar", "z-last", "file:///srv/repo"},
		{"remote", "add", "--if-not-exists", "origin", "http://elsewhere/"},
		{"remote", "add", "origin", "http://elsewhere/"}, // fails: exists
		{"remote", "delete", "signed"},
		{"remote", "delete", "signed"}, // fails: gone
		{"remote", "add", "--no-gpg-verify", "signed", "http://example.com/again"},
	}
	for _, s := range steps {
		_, _, want := repotest.RunOstree(t, append([]string{"--repo=" + a}, s...)...)
		_, errs, got := repofs(t, append([]string{"--repo=" + b}, s...)...)
		if (got == 0) != (want == 0) {
			t.Errorf("%s: exit %d, ostree %d (%s)", strings.Join(s, " "), got, want, errs)
		}
		if ca, cb := readFile(t, filepath.Join(a, "config")), readFile(t, filepath.Join(b, "config")); ca != cb {
			t.Fatalf("after %s: config differs\n--- ostree\n%s--- repofs\n%s", strings.Join(s, " "), ca, cb)
		}
	}
	for _, r := range []string{a, b} { // each tool reads what the other wrote
		sameAsOstree(t, r, "remote", "list")
		sameAsOstree(t, r, "remote", "list", "-u")
		sameAsOstree(t, r, "remote", "show-url", "origin")
		sameAsOstree(t, r, "remote", "show-url", "nope")
		sameAsOstree(t, r, "remote", "delete", "nope")
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// servedFixture is an archive repository made by ostree, with a summary,
// served over HTTP, and a bare-user client with the remote "origin".
func servedFixture(t *testing.T) (fx *repotest.Fixture, url, client string) {
	t.Helper()
	fx = repotest.NewFixture(t, "archive", repotest.FixtureOpts{Wide: 100})
	repotest.Ostree(t, "--repo="+fx.Repo, "summary", "-u")
	srv := httptest.NewServer(http.FileServer(http.Dir(fx.Repo)))
	t.Cleanup(srv.Close)
	client = filepath.Join(t.TempDir(), "client")
	repotest.Init(t, client, "bare-user")
	repotest.Ostree(t, "--repo="+client, "remote", "add", "--no-gpg-verify", "origin", srv.URL)
	return fx, srv.URL, client
}

func TestRemoteRefsAndSummaryLikeOstree(t *testing.T) {
	repotest.RequireOstree(t)
	_, _, client := servedFixture(t)
	sameAsOstree(t, client, "remote", "refs", "origin")
	sameAsOstree(t, client, "remote", "summary", "origin")
}

var statusRE = regexp.MustCompile(`^\d+ metadata, \d+ content objects fetched; \d+ (B|KiB) transferred in \d+ seconds; [0-9.]+(\x{a0}[kMG]B| bytes?) content written\n$`)

func TestPullCommand(t *testing.T) {
	repotest.RequireOstree(t)
	fx, url, client := servedFixture(t)
	repo := "--repo=" + client

	out, errs, code := repofs(t, repo, "pull", "--depth=-1", "origin", "test/main", "stable")
	if code != 0 {
		t.Fatalf("pull: exit %d: %s", code, errs)
	}
	if !statusRE.MatchString(out) {
		t.Errorf("status line %q is not ostree's", out)
	}
	repotest.Ostree(t, repo, "fsck")
	for _, ref := range []string{"test/main", "stable"} {
		want := repotest.Ostree(t, "--repo="+fx.Repo, "ls", "-R", "-C", ref)
		if got, _, _ := repofs(t, repo, "ls", "-R", "-C", "origin:"+ref); got != want {
			t.Errorf("ls -R -C origin:%s differs from the source", ref)
		}
	}
	if out, _, code := repofs(t, repo, "pull", "-q", "origin", "test/other"); code != 0 || out != "" {
		t.Errorf("pull -q: exit %d, printed %q", code, out)
	}
	if out, errs, code := repofs(t, repo, "pull", "--mirror", "--url="+url, "--network-retries=0", "origin", "stable"); code != 0 || !statusRE.MatchString(out) {
		t.Errorf("pull --mirror --url: exit %d: %q %s", code, out, errs)
	}
	if got := strings.TrimSpace(repotest.Ostree(t, repo, "rev-parse", "stable")); got != fx.Refs["stable"] {
		t.Errorf("--mirror: refs/heads/stable = %s, want %s", got, fx.Refs["stable"])
	}
	if _, errs, code := repofs(t, repo, "pull", "--commit-metadata-only", "origin", fx.Commits[0]); code != 0 {
		t.Errorf("pull --commit-metadata-only CHECKSUM: exit %d: %s", code, errs)
	}

	// Errors as ostree words them.
	sameAsOstree(t, client, "pull", "origin", "no/such/ref")
	sameAsOstree(t, client, "pull", "nope", "test/main")
	for _, tc := range []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"pull"}, exitUsage, "REMOTE"},
		{[]string{"pull", "--depth=x", "origin"}, exitUsage, "depth"},
		{[]string{"remote"}, exitUsage, "subcommand"},
		{[]string{"remote", "frob"}, exitUsage, "frob"},
		{[]string{"remote", "add", "x"}, exitUsage, "URL"},
		{[]string{"remote", "add", "--set=novalue", "x", "http://x/"}, exitUsage, "KEY=VALUE"},
		{[]string{"remote", "add", "bad", "ftp://x/"}, exitError, "URL"},
	} {
		_, errs, code := repofs(t, append([]string{repo}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, %q; want exit %d mentioning %q", strings.Join(tc.args, " "), code, errs, tc.code, tc.want)
		}
	}

	// A remote that wants signatures refuses unsigned commits, saying how
	// to proceed.
	repotest.Ostree(t, repo, "remote", "add", "signed", url)
	_, errs, code = repofs(t, repo, "pull", "signed", "test/main")
	if code != exitError || !strings.Contains(errs, "no signatures found") || !strings.Contains(errs, "gpg-verify=false") {
		t.Errorf("pull from a gpg-verify remote: exit %d: %s", code, errs)
	}
}

// TestPullHelp: each command's help has examples and goes to stdout.
func TestPullHelp(t *testing.T) {
	for _, c := range []string{"pull", "remote"} {
		out, _, code := repofs(t, c, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "repofs --repo=") {
			t.Errorf("%s --help: exit %d:\n%s", c, code, out)
		}
	}
}

func TestStatusLine(t *testing.T) {
	for _, tc := range []struct {
		p    pull.Progress
		want string
	}{
		{pull.Progress{}, "0 metadata, 0 content objects fetched; 0 B transferred in 0 seconds; 0 bytes content written"},
		{pull.Progress{MetadataFetched: 5, ContentFetched: 2, BytesTransferred: 685, ContentBytesWritten: 5, Elapsed: 300 * time.Millisecond},
			"5 metadata, 2 content objects fetched; 685 B transferred in 0 seconds; 5 bytes content written"},
		{pull.Progress{MetadataFetched: 1, ContentFetched: 1, BytesTransferred: 1023, ContentBytesWritten: 1},
			"1 metadata, 1 content objects fetched; 1023 B transferred in 0 seconds; 1 byte content written"},
		{pull.Progress{MetadataFetched: 9, ContentFetched: 3, BytesTransferred: 3002389, ContentBytesWritten: 3000005, Elapsed: 2500 * time.Millisecond},
			"9 metadata, 3 content objects fetched; 2932 KiB transferred in 2 seconds; 3.0\u00a0MB content written"},
		{pull.Progress{BytesTransferred: 1 << 30, ContentBytesWritten: 1500, Elapsed: 61 * time.Second},
			"0 metadata, 0 content objects fetched; 1048576 KiB transferred in 61 seconds; 1.5\u00a0kB content written"},
	} {
		if got := statusLine(tc.p); got != tc.want {
			t.Errorf("statusLine(%+v)\n got %q\nwant %q", tc.p, got, tc.want)
		}
	}
}
