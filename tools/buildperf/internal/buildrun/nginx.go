package buildrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Nginx is a real nginx (Debian's) run from a configuration written for it,
// with its files under Dir: the front of the loopback caches.
type Nginx struct {
	Dir string
	cmd *exec.Cmd
}

// StartNginx writes nginx.conf in dir with servers (what goes inside its http
// block: server blocks, maps) after the settings every cache front needs, starts
// nginx, and waits up to 10 s for ready to return nil.
func StartNginx(dir, servers string, ready func() error) (*Nginx, error) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/nginx"); err2 != nil {
			return nil, fmt.Errorf("nginx not found: install the Debian package nginx (./bazelw does): %w", err)
		}
		nginx = "/usr/sbin/nginx"
	}
	temp := filepath.Join(dir, "client-body")
	if err := os.MkdirAll(temp, 0o755); err != nil {
		return nil, err
	}
	// Started as root, nginx's workers would switch to www-data, which cannot
	// write under root's cache dir: keep them as the user running the check.
	userLine := ""
	if os.Geteuid() == 0 {
		userLine = "user root root;\n"
	}
	conf := userLine + fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
  access_log %[1]s/access.log;
  # Bazel keeps its connections open and does not retry a failed upload: an nginx
  # that closes a connection after its default 1000 requests breaks an upload
  # mid-way ("Broken pipe") and the action's cache entry is lost. (For HTTP/2,
  # gRPC's transport, the same limit counts the streams of a connection.)
  keepalive_requests 1000000;
  keepalive_timeout 600s;
  client_body_temp_path %[2]s;
  proxy_temp_path %[2]s;
  fastcgi_temp_path %[2]s;
  uwsgi_temp_path %[2]s;
  scgi_temp_path %[2]s;
%[3]s}
`, dir, temp, servers)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	n := &Nginx{Dir: dir, cmd: exec.Command(nginx, "-c", confPath, "-p", dir, "-e", filepath.Join(dir, "error.log"))}
	n.cmd.Stdout, n.cmd.Stderr = os.Stderr, os.Stderr
	// Its own process group: stopping the cache must stop the workers too, which
	// would otherwise go on serving after the master is killed.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if err := ready(); err == nil {
			return n, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.Stop()
	errorLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	return nil, fmt.Errorf("nginx did not start; %s/error.log says:\n%s", dir, Tail(string(errorLog), 10))
}

// Stop kills nginx, workers included, at once: the way a cache server dies.
func (n *Nginx) Stop() {
	if n != nil && n.cmd != nil && n.cmd.Process != nil {
		syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		n.cmd.Wait()
		n.cmd = nil
	}
}

// AccessLog is what nginx has logged of the requests so far.
func (n *Nginx) AccessLog() string {
	data, _ := os.ReadFile(filepath.Join(n.Dir, "access.log"))
	return string(data)
}

// FreePort returns a loopback port nothing listens on right now.
func FreePort() (int, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, errors.New("no free loopback port")
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port, nil
}
