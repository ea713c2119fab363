package testproc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Runfile returns the path of the runfile whose rlocationpath is in the
// environment variable env (set in the test's BUILD rule:
// env = {"CONFIG_BINARY": "$(rlocationpath //services/config)"}).
func Runfile(t testing.TB, env string) string {
	t.Helper()
	rloc := os.Getenv(env)
	if rloc == "" {
		t.Fatalf("%s is not set: the test's BUILD rule must set it to $(rlocationpath ...) of a data dependency", env)
	}
	return Rlocation(t, rloc)
}

// Rlocation returns the path of a data dependency from its $(rlocationpath).
func Rlocation(t testing.TB, rloc string) string {
	t.Helper()
	// Bazel runs tests in a runfiles tree: RUNFILES_DIR or TEST_SRCDIR is its root.
	root := os.Getenv("RUNFILES_DIR")
	if root == "" {
		root = os.Getenv("TEST_SRCDIR")
	}
	path := filepath.Join(root, rloc)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("runfile %s: %v (run the test with bazel test)", rloc, err)
	}
	return path
}

// Service is a Monoreel service binary running on loopback.
type Service struct {
	*Process
	Addr      string           // gRPC
	AdminAddr string           // metrics, pprof, /healthz
	Conn      *grpc.ClientConn // to Addr; closed when the test ends
}

// StartService runs a service binary with -listen and -admin_listen on free
// loopback ports and the given args, and waits until its gRPC health check
// reports SERVING.
func StartService(t testing.TB, binary string, args ...string) *Service {
	t.Helper()
	s, err := LaunchService(binary, filepath.Join(t.TempDir(), filepath.Base(binary)+".log"), args...)
	if s != nil {
		t.Cleanup(s.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// LaunchService is StartService without a test: its output goes to logPath, and
// the caller stops it (Stop closes Conn too).
func LaunchService(binary, logPath string, args ...string) (*Service, error) {
	s := &Service{}
	var err error
	if s.Addr, err = PickAddr(); err != nil {
		return nil, err
	}
	if s.AdminAddr, err = PickAddr(); err != nil {
		return nil, err
	}
	// The first health checks race the listener; grpc-go's default reconnect
	// backoff (1s) would then make every start take a second.
	fastRetry := grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
		BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}, MinConnectTimeout: time.Second})
	if s.Conn, err = grpc.NewClient(s.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()), fastRetry); err != nil {
		return nil, err
	}
	health := healthpb.NewHealthClient(s.Conn)
	args = append([]string{"-listen=" + s.Addr, "-admin_listen=" + s.AdminAddr}, args...)
	s.Process, err = Launch(binary, args, logPath, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health: %v", resp.GetStatus())
		}
		return nil
	})
	if err != nil {
		s.Conn.Close()
		return nil, err
	}
	return s, nil
}

// Stop kills the service and closes Conn.
func (s *Service) Stop() {
	s.Process.Stop()
	s.Conn.Close()
}

// Terminate sends SIGTERM and returns how the process exited (nil: status 0),
// failing the test if it has not exited within timeout.
func (p *Process) Terminate(t testing.TB, timeout time.Duration) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		return err
	case <-time.After(timeout):
		t.Fatalf("%s still running %v after SIGTERM:\n%s", p.cmd.Path, timeout, tail(p.logPath))
	}
	return nil
}

// Log returns what the process has written so far.
func (p *Process) Log() string {
	data, _ := os.ReadFile(p.logPath)
	return string(data)
}
