package testproc

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// StartRegistry runs Debian's docker-registry (the CNCF distribution registry)
// on a free loopback port until the test ends and returns its host:port.
func StartRegistry(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	p, addr, err := LaunchRegistry(Binary(t, "docker-registry", "docker-registry"), dir, filepath.Join(dir, "registry.log"))
	if p != nil {
		t.Cleanup(p.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// LaunchRegistry is StartRegistry without a test: its storage under dir, until
// the caller stops it (tools/image/cipush, CI's push).
func LaunchRegistry(binary, dir, logPath string) (*Process, string, error) {
	addr, err := PickAddr()
	if err != nil {
		return nil, "", err
	}
	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, filepath.Join(dir, "data"), addr), 0o600); err != nil {
		return nil, "", err
	}
	client := &http.Client{Timeout: time.Second}
	p, err := Launch(binary, []string{"serve", config}, logPath, func() error {
		resp, err := client.Get("http://" + addr + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		return nil
	})
	return p, addr, err
}
