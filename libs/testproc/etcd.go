package testproc

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// LaunchEtcd runs a real single-node etcd (Debian's etcd-server) on loopback,
// its data under dataDir, until the caller stops it, and returns its client
// address. Tests use libs/config/configtest.StartEtcd.
func LaunchEtcd(binary, dataDir, logPath string) (*Process, string, error) {
	client, err := PickAddr()
	if err != nil {
		return nil, "", err
	}
	peer, err := PickAddr()
	if err != nil {
		return nil, "", err
	}
	health := &http.Client{Timeout: time.Second}
	p, err := Launch(binary, []string{
		"--name=local", "--data-dir=" + dataDir,
		"--listen-client-urls=http://" + client, "--advertise-client-urls=http://" + client,
		"--listen-peer-urls=http://" + peer, "--initial-advertise-peer-urls=http://" + peer,
		"--initial-cluster=local=http://" + peer, "--log-level=error",
	}, logPath, func() error {
		resp, err := health.Get("http://" + client + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"health":"true"`) {
			return fmt.Errorf("etcd /health: %s %s", resp.Status, body)
		}
		return nil
	})
	return p, client, err
}
