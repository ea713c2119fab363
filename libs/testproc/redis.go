package testproc

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// StartRedis runs a real redis-server (Debian's) on loopback at addr, without
// persistence, until the test ends (or the caller stops it).
func StartRedis(t testing.TB, addr string) *Process {
	t.Helper()
	p, err := LaunchRedis(Binary(t, "redis-server", "redis-server"), addr, filepath.Join(t.TempDir(), "redis-server.log"))
	if p != nil {
		t.Cleanup(p.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// LaunchRedis is StartRedis without a test: the caller stops it.
func LaunchRedis(binary, addr, logPath string) (*Process, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return Launch(binary, []string{"--bind", host, "--port", port, "--save", "", "--appendonly", "no"}, logPath, func() error {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "+PONG") {
			return fmt.Errorf("redis answered PING with %q", line)
		}
		return nil
	})
}
