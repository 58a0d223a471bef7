package repotest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nginxPath is where Debian's nginx (nginx-light) installs its binary.
const nginxPath = "/usr/sbin/nginx"

// RequireNginx returns the nginx binary, or skips the test loudly when
// there is none; in CI (where $CI is set) a missing nginx fails it.
func RequireNginx(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(nginxPath); err == nil {
		return nginxPath
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	msg := "nginx not found (" + nginxPath + " or $PATH); real-server test NOT RUN (apt-get install nginx-light)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip("SKIP: " + msg)
	return ""
}

// Nginx is an nginx serving a directory on a loopback port, with a
// generated config, for the life of a test: real Range, keep-alive,
// If-Modified-Since and error pages. It runs as one process
// (master_process off), so Kill ends every connection at once.
type Nginx struct {
	URL string // http://127.0.0.1:PORT
	dir string // config, logs, pid, temp
	cmd *exec.Cmd
}

// NginxOpts change what StartNginx serves.
type NginxOpts struct {
	// Location, when set, is the body of "location / { … }" instead of
	// serving the root plainly: "return 500;" makes every request fail.
	Location string
}

// StartNginx serves root with nginx until the test ends.
func StartNginx(t testing.TB, root string, o NginxOpts) *Nginx {
	t.Helper()
	bin := RequireNginx(t)
	var last error
	for range 5 { // the port is picked free, but may be taken before nginx binds it
		n, err := startNginx(t, bin, root, o)
		if err == nil {
			return n
		}
		last = err
	}
	t.Fatalf("start nginx: %v", last)
	return nil
}

func startNginx(t testing.TB, bin, root string, o NginxOpts) (*Nginx, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	loc := o.Location
	if loc == "" {
		loc = "try_files $uri =404;"
	}
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
	log_format repotest '$request_method $uri $status $body_bytes_sent "$http_range"';
	access_log %[1]s/access.log repotest;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	default_type application/octet-stream;
	sendfile on;
	keepalive_requests 100000;
	server {
		listen %[2]s;
		root %[3]s;
		location / { %[4]s }
	}
}
`, dir, addr, root, loc)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	n := &Nginx{URL: "http://" + addr, dir: dir, cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			logs, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return nil, fmt.Errorf("nginx exited (%v): %s", err, logs)
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return nil, fmt.Errorf("nginx did not listen on %s within 10s", addr)
		}
		time.Sleep(10 * time.Millisecond) // polling for the port, with a deadline
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	return n, nil
}

// Kill ends nginx at once (SIGKILL): connections in flight are reset, new
// ones refused.
func (n *Nginx) Kill() {
	n.cmd.Process.Kill()
}

// NginxRequest is one line of the access log.
type NginxRequest struct {
	Method, Path string
	Status       int
	Bytes        int64  // body bytes sent
	Range        string // the request's Range header, "" without one
}

// Requests returns the requests nginx has logged, in order.
func (n *Nginx) Requests(t testing.TB) []NginxRequest {
	t.Helper()
	f, err := os.Open(filepath.Join(n.dir, "access.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []NginxRequest
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 5)
		if len(fields) != 5 {
			t.Fatalf("nginx access log line %q", sc.Text())
		}
		st, _ := strconv.Atoi(fields[2])
		b, _ := strconv.ParseInt(fields[3], 10, 64)
		rng := strings.Trim(fields[4], `"`)
		if rng == "-" {
			rng = ""
		}
		out = append(out, NginxRequest{Method: fields[0], Path: fields[1], Status: st, Bytes: b, Range: rng})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
