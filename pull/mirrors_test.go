package pull

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
	"github.com/repofs/repofs/repo"
)

func TestParseMirrorlist(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"plain", "http://a/repo\nhttps://b/x/\n", []string{"http://a/repo/", "https://b/x/"}},
		{"comments and blanks", "# mirrors\n\n  \nhttp://a\r\n#http://b\n", []string{"http://a/"}},
		{"not http", "file:///srv/repo\nftp://a/\nhttp://ok/\n/abs\nhttp:///nohost\n", []string{"http://ok/"}},
		{"empty", "", nil},
		{"garbage", "\x00\xff%zz\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := parseMirrorlist("url", []byte(tc.in))
			var got []string
			for _, m := range l.ms {
				got = append(got, m.base.String())
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("parseMirrorlist(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseMirrorlist(f *testing.F) {
	f.Add([]byte("# x\nhttp://a/\n\nhttps://b\n"))
	f.Add([]byte("file:///x\n%%\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range parseMirrorlist("url", data).ms {
			if m.base.Scheme != "http" && m.base.Scheme != "https" || m.base.Host == "" {
				t.Fatalf("kept %q", m.base)
			}
			_ = m.url("objects/ab/cd.filez")
		}
	})
}

// mirrorSource is an archive repository made by ostree, with many small
// files and, every fifth, one larger than smallBody (fetched into a
// partial file), for the mirror tests.
type mirrorSource struct {
	dir, ref string
	filez    map[string]int64 // URL path of every .filez → size
}

func newMirrorSource(t *testing.T) *mirrorSource {
	t.Helper()
	repotest.RequireOstree(t)
	s := &mirrorSource{dir: filepath.Join(t.TempDir(), "src"), ref: "main", filez: map[string]int64{}}
	repotest.Init(t, s.dir, "archive")
	var es []repotest.Entry
	for i := range 60 {
		size := int64(1000 + i)
		if i%5 == 4 {
			size = smallBody + 100<<10 + int64(i)
		}
		es = append(es, repotest.Entry{Path: fmt.Sprintf("d%d/f%02d", i%4, i), Kind: repotest.File, Size: size})
	}
	tree := t.TempDir()
	repotest.WriteTree(t, tree, es)
	repotest.Commit(t, s.dir, s.ref, tree, repotest.CommitOpts{})
	repotest.Ostree(t, "--repo="+s.dir, "summary", "-u")
	all, _ := filepath.Glob(filepath.Join(s.dir, "objects", "*", "*.filez"))
	for _, p := range all {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(s.dir, p)
		s.filez["/"+rel] = st.Size()
	}
	return s
}

// pullAndCheck pulls the source's ref into a new archive repository with
// the remote's keys, and checks it with both fsck.
func (s *mirrorSource) pullAndCheck(t *testing.T, keys ...string) *Result {
	t.Helper()
	r, err := repo.Init(filepath.Join(t.TempDir(), "client"), repo.ModeArchive)
	if err != nil {
		t.Fatal(err)
	}
	o := AddOptions{NoGPGVerify: true}
	for _, kv := range keys[1:] {
		k, v, _ := strings.Cut(kv, "=")
		o.Set = append(o.Set, repo.ConfigKey{Key: k, Value: v})
	}
	if err := AddRemote(t.Context(), r, "origin", keys[0], o); err != nil {
		t.Fatal(err)
	}
	res, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{s.ref}})
	if err != nil {
		t.Fatal(err)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
	if rep, err := r.Fsck(context.Background(), repo.FsckOptions{}); err != nil || len(rep.Problems) > 0 {
		t.Errorf("repofs fsck: %v %+v", err, rep)
	}
	return res
}

// logServer serves dir, logging request paths; paths refused by deny get
// a 404.
type logServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func newLogServer(t *testing.T, dir string, deny func(path string) bool) *logServer {
	t.Helper()
	fs := http.FileServer(http.Dir(dir))
	s := &logServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		s.paths = append(s.paths, req.URL.Path)
		s.mu.Unlock()
		if deny != nil && deny(req.URL.Path) {
			http.NotFound(w, req)
			return
		}
		fs.ServeHTTP(w, req)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestPullContentURL: url serves only metadata (config, summary, refs,
// detached metadata), as ostree asks it, and refuses objects; contenturl,
// a real nginx, serves every object.
func TestPullContentURL(t *testing.T) {
	s := newMirrorSource(t)
	content := repotest.StartNginx(t, s.dir, repotest.NginxOpts{})
	meta := newLogServer(t, s.dir, func(p string) bool {
		return strings.HasPrefix(p, "/objects/") && !strings.HasSuffix(p, ".commitmeta") || strings.HasPrefix(p, "/deltas/")
	})
	s.pullAndCheck(t, meta.URL, "contenturl="+content.URL)
	for _, p := range meta.paths {
		if strings.HasSuffix(p, ".filez") || strings.HasPrefix(p, "/objects/") && !strings.HasSuffix(p, ".commitmeta") {
			t.Errorf("url served %s", p)
		}
	}
	got := map[string]bool{}
	for _, r := range content.Requests(t) {
		if r.Status == 200 {
			got[r.Path] = true
		}
	}
	for p := range s.filez {
		if !got[p] {
			t.Errorf("contenturl did not serve %s", p)
		}
	}
}

// deadURL is a loopback URL that refuses connections.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String() + "/repo"
	l.Close()
	return u
}

// TestPullMirrorlist: a mirror list whose first entry refuses
// connections and whose second answers 500 to everything: the pull
// completes from the third, and stops asking the failing ones early.
func TestPullMirrorlist(t *testing.T) {
	s := newMirrorSource(t)
	bad := repotest.StartNginx(t, s.dir, repotest.NginxOpts{Location: "return 500;"})
	good := repotest.StartNginx(t, s.dir, repotest.NginxOpts{})
	list := filepath.Join(t.TempDir(), "mirrors")
	text := "# mirrors of the test repository\n\n" + deadURL(t) + "\n" + bad.URL + "/\n" + good.URL + "\n"
	if err := os.WriteFile(filepath.Join(list), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	lists := newLogServer(t, filepath.Dir(list), nil)
	for _, key := range []string{"url", "contenturl"} {
		t.Run(key, func(t *testing.T) {
			keys := []string{"mirrorlist=" + lists.URL + "/mirrors"}
			if key == "contenturl" {
				keys = []string{good.URL, "contenturl=mirrorlist=" + lists.URL + "/mirrors"}
			}
			n := len(bad.Requests(t))
			s.pullAndCheck(t, keys...)
			// Three failures take a mirror out; requests in flight then
			// (Options.Parallel of them) may still reach it.
			if got := len(bad.Requests(t)) - n; got == 0 || got > mirrorGiveUp+16 {
				t.Errorf("the failing mirror got %d requests, want 1 to %d", got, mirrorGiveUp+16)
			}
		})
	}
}

// TestPullMirrorlistNone: a list with no usable entry fails, naming it.
func TestPullMirrorlistNone(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mirrors"), []byte("# none\nfile:///srv/repo\n"), 0o644)
	lists := newLogServer(t, dir, nil)
	r, err := repo.Init(filepath.Join(t.TempDir(), "client"), repo.ModeArchive)
	if err != nil {
		t.Fatal(err)
	}
	AddRemote(t.Context(), r, "origin", "mirrorlist="+lists.URL+"/mirrors", AddOptions{NoGPGVerify: true})
	_, err = Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{"main"}})
	if err == nil || !strings.Contains(err.Error(), "no valid mirrors") || !strings.Contains(err.Error(), lists.URL+"/mirrors") {
		t.Errorf("pull: %v, want no valid mirrors naming the list", err)
	}
}

// TestPullMirrorErrorNamesEach: an object no mirror serves fails the pull
// with an error naming every mirror tried and what each said.
func TestPullMirrorErrorNamesEach(t *testing.T) {
	s := newMirrorSource(t)
	m1 := newLogServer(t, s.dir, func(p string) bool { return strings.HasSuffix(p, ".filez") })
	m2 := newLogServer(t, s.dir, func(p string) bool { return strings.HasSuffix(p, ".filez") })
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mirrors"), []byte(m1.URL+"\n"+m2.URL+"\n"), 0o644)
	lists := newLogServer(t, dir, nil)
	r, _ := repo.Init(filepath.Join(t.TempDir(), "client"), repo.ModeArchive)
	AddRemote(t.Context(), r, "origin", m1.URL, AddOptions{NoGPGVerify: true})
	c, _ := r.ReadConfig()
	c.Set(group("origin"), "url", m1.URL)
	c.Set(group("origin"), "contenturl", "mirrorlist="+lists.URL+"/mirrors")
	r.WriteConfig(c)
	_, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{s.ref}})
	if err == nil || !strings.Contains(err.Error(), m1.URL+"/objects/") || !strings.Contains(err.Error(), m2.URL+"/objects/") || !strings.Contains(err.Error(), "contenturl") {
		t.Fatalf("pull: %v, want an error naming both mirrors", err)
	}
}

// TestPullMirrorKilled: the first mirror dies mid-pull, half-way through
// a large object after half of the objects were asked for; the pull
// completes from the second (a real nginx), resuming that object with a
// Range request, and no object is downloaded whole twice.
func TestPullMirrorKilled(t *testing.T) {
	s := newMirrorSource(t)
	b := repotest.StartNginx(t, s.dir, repotest.NginxOpts{})
	var (
		started  atomic.Int64
		killed   atomic.Bool
		dead     atomic.Bool
		mu       sync.Mutex
		aBytes   = map[string]int64{}
		trigger  string
		a        *httptest.Server
		killOnce sync.Once
		serving  sync.RWMutex // held shared by every whole body A sends
	)
	fs := http.FileServer(http.Dir(s.dir))
	a = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		size, isFilez := s.filez[req.URL.Path]
		if !isFilez {
			fs.ServeHTTP(w, req)
			return
		}
		n := started.Add(1)
		if n < int64(len(s.filez)/2) || size <= smallBody || req.Header.Get("Range") != "" || !killed.CompareAndSwap(false, true) {
			cw := &pathCounter{ResponseWriter: w}
			serving.RLock()
			defer serving.RUnlock()
			if dead.Load() {
				return // on a connection closed meanwhile: nothing gets through
			}
			fs.ServeHTTP(cw, req)
			w.(http.Flusher).Flush() // all of it on the wire before A may die
			mu.Lock()
			aBytes[req.URL.Path] += cw.n
			mu.Unlock()
			return
		}
		// Half of this object, then the mirror dies.
		data, err := os.ReadFile(filepath.Join(s.dir, req.URL.Path))
		if err != nil {
			t.Error(err)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(200)
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		mu.Lock()
		aBytes[req.URL.Path] += int64(len(data) / 2)
		trigger = req.URL.Path
		mu.Unlock()
		// Die between whole bodies: those sent before were received
		// whole (HTTP/1.1 sends no request before its previous answer
		// is read), those after find the mirror gone.
		killOnce.Do(func() {
			a.Listener.Close()
			serving.Lock()
			a.CloseClientConnections()
			dead.Store(true)
			serving.Unlock()
		})
	}))
	t.Cleanup(a.Close)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mirrors"), []byte(a.URL+"\n"+b.URL+"\n"), 0o644)
	lists := newLogServer(t, dir, nil)
	s.pullAndCheck(t, b.URL, "contenturl=mirrorlist="+lists.URL+"/mirrors")
	if !killed.Load() {
		t.Fatal("the first mirror was never killed: the test proves nothing")
	}
	full := map[string]int{}
	var resumed bool
	mu.Lock()
	defer mu.Unlock()
	for p, n := range aBytes {
		if n == s.filez[p] {
			full[p]++
		}
	}
	for _, r := range b.Requests(t) {
		size, ok := s.filez[r.Path]
		if !ok {
			continue
		}
		if r.Status == 200 && r.Bytes == size {
			full[r.Path]++
		}
		if r.Path == trigger {
			if r.Status != 206 || r.Range != fmt.Sprintf("bytes=%d-", aBytes[trigger]) || r.Bytes != size-aBytes[trigger] {
				t.Errorf("the object cut off at byte %d came from the next mirror as %+v, want the rest with Range", aBytes[trigger], r)
			}
			resumed = true
		}
	}
	if !resumed {
		t.Errorf("%s was not resumed from the next mirror", trigger)
	}
	for p := range s.filez {
		if full[p] != 1 && p != trigger {
			t.Errorf("%s downloaded whole %d times", p, full[p])
		}
	}
}

// pathCounter counts the body bytes of a response.
type pathCounter struct {
	http.ResponseWriter
	n int64
}

func (c *pathCounter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// TestPullFromNginx: a plain pull from a real nginx, resuming a partial
// download that a killed pull left (Range, 206), then a second pull that
// finds the summary unchanged (a conditional request, 304).
func TestPullFromNginx(t *testing.T) {
	s := newMirrorSource(t)
	srv := repotest.StartNginx(t, s.dir, repotest.NginxOpts{})
	r, err := repo.Init(filepath.Join(t.TempDir(), "client"), repo.ModeBareUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := AddRemote(t.Context(), r, "origin", srv.URL, AddOptions{NoGPGVerify: true}); err != nil {
		t.Fatal(err)
	}
	var big string
	for p, size := range s.filez {
		if size > smallBody {
			big = p
			break
		}
	}
	data, err := os.ReadFile(filepath.Join(s.dir, big))
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.AllocateFetcherDir(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSuffix(strings.TrimPrefix(big, "/objects/"), ".filez")
	half := int64(len(data) / 3)
	if err := os.WriteFile(d.PartialPath(mustParse(t, strings.ReplaceAll(name, "/", ""))), data[:half], 0o644); err != nil {
		t.Fatal(err)
	}
	d.Release()
	for range 2 {
		if _, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{s.ref}}); err != nil {
			t.Fatal(err)
		}
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
	var ranged, notModified bool
	for _, q := range srv.Requests(t) {
		if q.Path == big && q.Status == 206 && q.Range == fmt.Sprintf("bytes=%d-", half) && q.Bytes == int64(len(data))-half {
			ranged = true
		}
		if q.Path == "/summary" && q.Status == 304 {
			notModified = true
		}
	}
	if !ranged {
		t.Errorf("the partial download of %s was not resumed with a Range request", big)
	}
	if !notModified {
		t.Errorf("the second pull fetched the summary again instead of a 304")
	}
}

// TestPullLocalCache: objects a local cache repository has are taken from
// it and verified, not fetched; a corrupted one is fetched instead.
func TestPullLocalCache(t *testing.T) {
	s := newMirrorSource(t)
	srv := newLogServer(t, s.dir, nil)
	cache := filepath.Join(t.TempDir(), "cache")
	repotest.Init(t, cache, "bare-user")
	repotest.Ostree(t, "--repo="+cache, "pull-local", s.dir, s.ref)
	// Corrupt one content object of the cache (bare-user: the file's bytes).
	var victim string
	all, _ := filepath.Glob(filepath.Join(cache, "objects", "*", "*.file"))
	for _, p := range all {
		if st, err := os.Stat(p); err == nil && st.Size() > 2000 {
			victim = p
			break
		}
	}
	os.Chmod(victim, 0o644)
	if err := os.WriteFile(victim, []byte("not the object"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(filepath.Join(t.TempDir(), "client"), repo.ModeArchive)
	if err != nil {
		t.Fatal(err)
	}
	AddRemote(t.Context(), r, "origin", srv.URL, AddOptions{NoGPGVerify: true})
	var notices []error
	res, err := Pull(t.Context(), r, Options{Remote: "origin", Refs: []string{s.ref}, LocalCache: []string{cache},
		Notice: func(err error) { notices = append(notices, err) }})
	if err != nil {
		t.Fatal(err)
	}
	repotest.Ostree(t, "--repo="+r.Path(), "fsck")
	var filez []string
	for _, p := range srv.paths {
		if strings.HasSuffix(p, ".filez") || strings.HasSuffix(p, ".dirtree") {
			filez = append(filez, p)
		}
	}
	rel, _ := filepath.Rel(filepath.Join(cache, "objects"), victim)
	if len(filez) != 1 || !strings.HasSuffix(filez[0], strings.TrimSuffix(rel, ".file")+".filez") {
		t.Errorf("fetched %q, want only the corrupted %s", filez, rel)
	}
	if len(notices) != 1 || !strings.Contains(notices[0].Error(), cache) {
		t.Errorf("notices %v, want one naming the cache", notices)
	}
	if res.FromLocalCache < int64(len(s.filez)) {
		t.Errorf("FromLocalCache = %d, want at least %d", res.FromLocalCache, len(s.filez))
	}
	if _, err := Pull(t.Context(), r, Options{Remote: "origin", LocalCache: []string{filepath.Join(cache, "nope")}}); err == nil || !strings.Contains(err.Error(), "--localcache-repo=") {
		t.Errorf("pull with a missing cache: %v", err)
	}
}

// TestMirrorURL: url gives what resolving the path against the base URL
// gives, for plain paths (appended to a prefix computed once) and others.
func TestMirrorURL(t *testing.T) {
	bases := []string{
		"http://example.com", "http://example.com/", "http://example.com/repo",
		"http://example.com/repo/", "http://u:p@example.com:8080/a/b/?q=1#f",
		"https://example.com/a%20b/", "file:///srv/repo/", "http://example.com/a/./b/../c/",
	}
	paths := []string{
		"config", "summary.sig", "objects/ab/cdef.filez", "deltas/ab/cd-ef/0", "refs/heads/a/b",
		"", ".", "..", "./x", "../x", "a/../b", "a/./b", "a//b", "/abs", "a b", "a%20b", "é",
		"a/", "a/..", "...", "a/.../b", ".x", "x.", "refs/heads/a+b", "a?b", "a#b",
	}
	for _, b := range bases {
		u, err := url.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		m := &mirror{base: u}
		for _, p := range paths {
			want := u.ResolveReference(&url.URL{Path: p}).String()
			if got := m.url(p); got != want {
				t.Errorf("base %q, path %q: got %q, want %q", b, p, got, want)
			}
		}
	}
	for _, tc := range []struct {
		path  string
		plain bool
	}{
		{"objects/ab/cdef.filez", true}, {"...", true}, {".x", true}, {"a/x.", true},
		{"", false}, {".", false}, {"..", false}, {"a/../b", false}, {"a//b", false},
		{"/a", false}, {"a/", false}, {"a b", false}, {"a%20b", false},
	} {
		if got := plainPath(tc.path); got != tc.plain {
			t.Errorf("plainPath(%q) = %v, want %v", tc.path, got, tc.plain)
		}
	}
}
