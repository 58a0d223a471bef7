package pull

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
)

// A remote's url and contenturl are each a base URL or, prefixed with
// "mirrorlist=", the URL of a mirror list, as in ostree:
//
//   - url serves the remote's config, summary, summary.sig, summary.idx
//     and its subsummaries, refs/heads/ and detached commit metadata
//     (.commitmeta); contenturl serves every other object (commits,
//     dirtrees, dirmetas, .filez) and static deltas (indexes, superblocks,
//     parts). Without contenturl, url serves everything. ostree's pull does
//     exactly this split (its meta and content mirror lists), although its
//     manual speaks only of filez and delta parts: whatever contenturl
//     serves is checked against checksums that url's summary or refs gave.
//   - A mirror list is a text file of base URLs, one a line; blank lines
//     and lines starting with # are ignored, as are lines that are not
//     http:// or https:// URLs (ostree does not take local mirrors). A list
//     with no usable entry is an error.
//   - --url replaces both url and contenturl, as ostree's override-url.
//
// Where ostree tries the next mirror only on an HTTP error and probes the
// list's leading entries for a config file once, repofs fails each
// request over to the next mirror on any failure that is the mirror's
// (refused or reset connections, timeouts, 5xx, 404 for an object that
// must exist, a body that fails verification), and stops using a mirror
// that keeps failing for the rest of the pull (see mirror.fail). A
// partial download from one mirror is continued from the next with a
// Range request, and the whole object is verified in the end.

// mirrorList is where one kind of request goes: the base URLs of url or
// of contenturl, in order of preference.
type mirrorList struct {
	key     string // "url", "contenturl"
	ms      []*mirror
	listURL string // the mirror list it came from, "" for a plain URL
}

// mirror is one base URL and its health during a pull.
type mirror struct {
	base *url.URL
	// fails counts consecutive failures that were the mirror's fault;
	// down is set when there were mirrorGiveUp of them, or the mirror
	// refused a connection.
	fails atomic.Int32
	down  atomic.Bool
	// prefix is what url puts before a plain path (see plainPath), "" when
	// it cannot: computed once, as a pull asks for thousands of URLs.
	prefix atomic.Pointer[string]
}

// mirrorGiveUp is how many failures in a row take a mirror out of a pull.
const mirrorGiveUp = 3

// url is path resolved against the mirror's base URL. A plain path, as
// object paths are, is appended to the base's resolved directory, which
// is what resolving it gives, without parsing and printing a URL per
// request.
func (m *mirror) url(path string) string {
	if !plainPath(path) {
		return m.resolve(path)
	}
	pre := m.prefix.Load()
	if pre == nil {
		s, ok := strings.CutSuffix(m.resolve("x"), "/x")
		if ok {
			s += "/"
		} else {
			s = ""
		}
		m.prefix.Store(&s)
		pre = &s
	}
	if *pre == "" {
		return m.resolve(path)
	}
	return *pre + path
}

func (m *mirror) resolve(path string) string {
	return m.base.ResolveReference(&url.URL{Path: path}).String()
}

// plainPath reports whether path is relative, made of letters, digits,
// '.', '-', '_' and '/' only (nothing to escape), with no empty, "." or
// ".." segment (nothing for resolving to remove).
func plainPath(path string) bool {
	seg := 0 // the current segment's length
	dots := 0
	for i := 0; i < len(path); i++ {
		switch plainByte[path[i]] {
		case 0:
			return false
		case '/':
			if seg == 0 || seg == dots && dots <= 2 {
				return false
			}
			seg, dots = 0, 0
		case '.':
			seg++
			dots++
		default:
			seg++
		}
	}
	return seg > 0 && !(seg == dots && dots <= 2)
}

// plainByte maps the bytes a plain path may hold to themselves, and
// letters and digits to 'a'; others to 0.
var plainByte = func() (t [256]byte) {
	for c := range 256 {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			t[c] = 'a'
		case c == '.', c == '/':
			t[c] = byte(c)
		}
	}
	return t
}()

// ok records a success: the failures in a row start again from zero.
func (m *mirror) ok() {
	if m.fails.Load() != 0 {
		m.fails.Store(0)
	}
}

// fail records a failure that was the mirror's fault.
func (m *mirror) fail(err error) {
	if m.fails.Add(1) >= mirrorGiveUp || errors.Is(err, syscall.ECONNREFUSED) {
		m.down.Store(true)
	}
}

// order returns the mirrors to try, best first: those still up, in list
// order; when every one is down, all of them (a pull never runs out of
// mirrors to try only because each failed before).
func (l *mirrorList) order() []*mirror {
	if len(l.ms) == 1 {
		return l.ms
	}
	up := make([]*mirror, 0, len(l.ms))
	for _, m := range l.ms {
		if !m.down.Load() {
			up = append(up, m)
		}
	}
	if len(up) == 0 {
		return l.ms
	}
	return up
}

// newRemoteFetchers returns the fetchers of a pull: meta for the
// remote's url, content for its contenturl (meta itself when contentValue
// is empty), each resolving a mirror list. They share one client, the
// low-speed limit slow and one byte count.
func newRemoteFetchers(ctx context.Context, remote, urlValue, contentValue string, retries int, slow LowSpeed) (meta, content *fetcher, err error) {
	f := &fetcher{remote: remote, client: newHTTPClient(), retries: retries, slow: slow, bytes: new(atomic.Int64), noPipeline: new(atomic.Bool)}
	defer func() {
		if err != nil {
			f.client.CloseIdleConnections()
		}
	}()
	ml, err := resolveMirrors(ctx, f, "url", urlValue)
	if err != nil {
		return nil, nil, err
	}
	meta = f.with(ml)
	if contentValue == "" {
		return meta, meta, nil
	}
	cl, err := resolveMirrors(ctx, f, "contenturl", contentValue)
	if err != nil {
		return nil, nil, err
	}
	return meta, f.with(cl), nil
}

// parseBase checks a base URL the fetcher can use.
func parseBase(remote, rawURL string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(rawURL, "/") + "/")
	local := err == nil && u.Scheme == "file"
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && !local) || local && (u.Host != "" || !strings.HasPrefix(u.Path, "/")) {
		return nil, fmt.Errorf("pull %s: URL %q: only http://, https:// and file:///ABSOLUTE/PATH remotes can be pulled", remote, rawURL)
	}
	return u, nil
}

// mirrorlistPrefix marks a url or contenturl that names a mirror list.
const mirrorlistPrefix = "mirrorlist="

// maxMirrorlist bounds a fetched mirror list.
const maxMirrorlist = 1 << 20

// ErrNoMirrors means a mirror list has no usable entry.
var ErrNoMirrors = errors.New("no valid mirrors")

// resolveMirrors turns the value of key (url or contenturl) into a mirror
// list, fetching it with f when it is mirrorlist=URL.
func resolveMirrors(ctx context.Context, f *fetcher, key, value string) (*mirrorList, error) {
	listURL, isList := strings.CutPrefix(value, mirrorlistPrefix)
	if !isList {
		base, err := parseBase(f.remote, value)
		if err != nil {
			return nil, err
		}
		return &mirrorList{key: key, ms: []*mirror{{base: base}}}, nil
	}
	lf, err := f.at(key, listURL)
	if err != nil {
		return nil, err
	}
	data, err := lf.getURL(ctx, listURL, maxMirrorlist)
	if err != nil {
		return nil, fmt.Errorf("pull %s: while fetching mirrorlist '%s' (%s): %w", f.remote, listURL, key, err)
	}
	l := parseMirrorlist(key, data)
	l.listURL = listURL
	if len(l.ms) == 0 {
		return nil, fmt.Errorf("pull %s: %w were found in mirrorlist '%s' (%s): want http:// or https:// base URLs, one a line", f.remote, ErrNoMirrors, listURL, key)
	}
	return l, nil
}

// parseMirrorlist reads a mirror list: one base URL a line; blank lines,
// # comments and entries that are not http(s) URLs are skipped.
func parseMirrorlist(key string, data []byte) *mirrorList {
	l := &mirrorList{key: key}
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, err := url.Parse(strings.TrimSuffix(line, "/") + "/")
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue
		}
		l.ms = append(l.ms, &mirror{base: u})
	}
	return l
}

// mirrorTry is one mirror's last failure for a request.
type mirrorTry struct {
	url string
	err error
}

// mirrorsError is a request that failed on every mirror of a list. It
// names each mirror tried with its last error, and unwraps to the error
// that decides what the caller does: ErrMissing only when every mirror
// said the file is missing.
type mirrorsError struct {
	remote, path, key string
	attempts          int
	tries             []mirrorTry
	err               error
}

func (e *mirrorsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pull %s: fetch %s: every mirror of %s failed (%d attempts): ", e.remote, e.path, e.key, e.attempts)
	for i, t := range e.tries {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %v", t.url, t.err)
	}
	return b.String()
}

func (e *mirrorsError) Unwrap() error { return e.err }

// badBodyError is a body that failed verification: the mirror's fault,
// and not to be asked again for this object.
type badBodyError struct{ err error }

func (e *badBodyError) Error() string { return e.err.Error() }
func (e *badBodyError) Unwrap() error { return e.err }
