// Package buildrun runs Bazel builds of this repository the way the remote cache
// check (tools/buildperf/remotecache) and the build benchmark
// (tools/buildperf/bench) need them: each in its own output base, from a checkout
// or a copy of it, against a real remote cache on loopback (here nginx with WebDAV
// PUT, from Debian; nginx also fronts the gRPC cache of
// tools/buildperf/internal/grpccache), reports what each build did (actions,
// cache hits, warnings, its execution log), and compares the outputs of two builds.
package buildrun

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Cache is nginx serving two WebDAV caches on loopback: an open one (URL) and one
// that needs basic auth (user "ci", password "secret") to write (AuthURL).
type Cache struct {
	URL, AuthURL string
	// Dir holds the configuration, logs and storage (Dir/storage/{ac,cas}).
	Dir string
	*Nginx
}

// StartCache starts nginx with its files under dir.
func StartCache(dir string) (*Cache, error) {
	open, err := FreePort()
	if err != nil {
		return nil, err
	}
	auth, err := FreePort()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"storage", "auth-storage"} {
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
	c := &Cache{
		URL:     fmt.Sprintf("http://127.0.0.1:%d", open),
		AuthURL: fmt.Sprintf("http://127.0.0.1:%d", auth),
		Dir:     dir,
	}
	c.Nginx, err = StartNginx(dir,
		server(open, "storage", "")+
			server(auth, "auth-storage", "      limit_except GET HEAD { auth_basic \"cache\"; auth_basic_user_file "+htpasswd+"; }\n"),
		func() error {
			resp, err := http.Get(c.URL + "/")
			if err == nil {
				resp.Body.Close()
			}
			return err
		})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Stop kills nginx, workers included, at once: the way a cache server dies.
func (c *Cache) Stop() {
	if c != nil {
		c.Nginx.Stop()
	}
}

// Puts counts the uploads the cache has received so far.
func (c *Cache) Puts() int {
	return strings.Count(c.AccessLog(), `"PUT `)
}
