// Package buildrun runs Bazel builds of this repository the way the remote cache
// checks (tools/buildperf/remotecache, remotecachegrpc) and the build benchmark
// (tools/buildperf/bench) need them: each in its own output base, from a checkout
// or a copy of it, against a real remote cache on loopback (here nginx with WebDAV
// PUT, from Debian), reports what each build did (actions, cache hits, warnings,
// its execution log), and compares the outputs of two builds.
package buildrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Cache is nginx serving two WebDAV caches on loopback: an open one (URL) and one
// that needs basic auth (user "ci", password "secret") to write (AuthURL).
type Cache struct {
	URL, AuthURL string
	// Dir holds the configuration, logs and storage (Dir/storage/{ac,cas}).
	Dir   string
	nginx *exec.Cmd
}

// StartCache starts nginx with its files under dir.
func StartCache(dir string) (*Cache, error) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/nginx"); err2 != nil {
			return nil, fmt.Errorf("nginx not found: install the Debian package nginx (./bazelw does): %w", err)
		}
		nginx = "/usr/sbin/nginx"
	}
	open, auth := freePort(), freePort()
	if open == 0 || auth == 0 {
		return nil, errors.New("no free loopback port")
	}
	for _, d := range []string{"storage", "auth-storage", "client-body"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("ci:{PLAIN}secret\n"), 0o600); err != nil {
		return nil, err
	}
	server := func(port int, storage, extra string) string {
		return fmt.Sprintf(`  server {
    listen 127.0.0.1:%d;
    location / {
      root %s;
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 0;
%s    }
  }
`, port, filepath.Join(dir, storage), extra)
	}
	// Started as root, nginx's workers would switch to www-data, which cannot
	// write under root's cache dir: keep them as the user running the check.
	userLine := ""
	if os.Geteuid() == 0 {
		userLine = "user root root;\n"
	}
	temp := filepath.Join(dir, "client-body")
	conf := userLine + fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
  access_log %[1]s/access.log;
  # Bazel keeps its connections open and does not retry a failed upload: an nginx
  # that closes a connection after its default 1000 requests breaks an upload
  # mid-way ("Broken pipe") and the action's cache entry is lost.
  keepalive_requests 1000000;
  keepalive_timeout 600s;
  client_body_temp_path %[2]s;
  proxy_temp_path %[2]s;
  fastcgi_temp_path %[2]s;
  uwsgi_temp_path %[2]s;
  scgi_temp_path %[2]s;
%[3]s%[4]s}
`, dir, temp,
		server(open, "storage", ""),
		server(auth, "auth-storage", "      limit_except GET HEAD { auth_basic \"cache\"; auth_basic_user_file "+htpasswd+"; }\n"))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	c := &Cache{
		URL:     fmt.Sprintf("http://127.0.0.1:%d", open),
		AuthURL: fmt.Sprintf("http://127.0.0.1:%d", auth),
		Dir:     dir,
		nginx:   exec.Command(nginx, "-c", confPath, "-p", dir, "-e", filepath.Join(dir, "error.log")),
	}
	c.nginx.Stdout, c.nginx.Stderr = os.Stderr, os.Stderr
	// Its own process group: stopping the cache must stop the workers too, which
	// would otherwise go on serving after the master is killed.
	c.nginx.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.nginx.Start(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := http.Get(c.URL + "/"); err == nil {
			resp.Body.Close()
			return c, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Stop()
	return nil, fmt.Errorf("nginx did not start; see %s/error.log", dir)
}

// Stop kills nginx, workers included, at once: the way a cache server dies.
func (c *Cache) Stop() {
	if c != nil && c.nginx != nil && c.nginx.Process != nil {
		syscall.Kill(-c.nginx.Process.Pid, syscall.SIGKILL)
		c.nginx.Wait()
		c.nginx = nil
	}
}

// Puts counts the uploads the cache has received so far.
func (c *Cache) Puts() int {
	data, _ := os.ReadFile(filepath.Join(c.Dir, "access.log"))
	return strings.Count(string(data), `"PUT `)
}

func freePort() int {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port
}
