package testproc

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// StartCasd runs a real buildbox-casd (Debian's buildbox, from testing) on a free
// loopback port, storing its CAS and action cache under a new directory, until
// the test ends, and returns its address (host:port, plaintext gRPC).
func StartCasd(t testing.TB) (*Process, string) {
	t.Helper()
	addr := FreeAddr(t)
	dir := t.TempDir()
	p, err := LaunchCasd(Binary(t, "buildbox-casd", "buildbox"), addr, filepath.Join(dir, "cache"), filepath.Join(dir, "buildbox-casd.log"))
	if p != nil {
		t.Cleanup(p.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p, addr
}

// LaunchCasd is StartCasd without a test: buildbox-casd serves a local CAS,
// ByteStream, ActionCache and Capabilities (REAPI v2) at addr, stored in
// cacheDir, until the caller stops it.
func LaunchCasd(binary, addr, cacheDir, logPath string) (*Process, error) {
	return Launch(binary, []string{"--bind=" + addr, "--log-level=warning", cacheDir}, logPath, func() error {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}
