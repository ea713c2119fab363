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

	"github.com/monoreel/monoreel/libs/auth"
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

// Service is a Monoreel service binary running on loopback, with mutual TLS.
type Service struct {
	*Process
	Name      string           // the service, as its certificate names it: the binary's name
	Addr      string           // gRPC
	AdminAddr string           // metrics, pprof, /healthz
	Conn      *grpc.ClientConn // to Addr, as the service "testproc"; closed by Stop
	pki       *PKI
}

// Harness is the service identity the harness's own connections (Conn) have.
const Harness = "testproc"

// StartService runs a service binary with -listen and -admin_listen on free
// loopback ports, its certificate and the token key from the test PKI
// (TestPKI), and the given args, and waits until its gRPC health check reports
// SERVING.
func StartService(t testing.TB, binary string, args ...string) *Service {
	t.Helper()
	s, err := LaunchService(TestPKI(t), binary, filepath.Join(t.TempDir(), filepath.Base(binary)+".log"), args...)
	if s != nil {
		t.Cleanup(s.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// StartPlaintextService is StartService with -plaintext: no TLS and no
// authentication, the baseline a benchmark measures the secure path against.
func StartPlaintextService(t testing.TB, binary string, args ...string) *Service {
	t.Helper()
	s, err := LaunchService(nil, binary, filepath.Join(t.TempDir(), filepath.Base(binary)+".log"), args...)
	if s != nil {
		t.Cleanup(s.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// LaunchService is StartService without a test, with certificates from p (nil:
// -plaintext): its output goes to logPath, and the caller stops it (Stop closes
// Conn too).
func LaunchService(p *PKI, binary, logPath string, args ...string) (*Service, error) {
	s := &Service{Name: filepath.Base(binary), pki: p}
	var err error
	tlsArgs, creds := []string{"-plaintext"}, insecure.NewCredentials()
	if p != nil {
		if tlsArgs, err = p.ServiceArgs(s.Name); err != nil {
			return nil, err
		}
		if creds, err = p.ServiceCredentials(Harness); err != nil {
			return nil, err
		}
	}
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
	if s.Conn, err = grpc.NewClient(s.Addr, grpc.WithTransportCredentials(creds), fastRetry); err != nil {
		return nil, err
	}
	health := healthpb.NewHealthClient(s.Conn)
	args = append(append([]string{"-listen=" + s.Addr, "-admin_listen=" + s.AdminAddr}, tlsArgs...), args...)
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

// UserConn returns a connection to the service as user, with tier and roles
// (auth.RoleAdmin), by a token of the PKI: the client a person would use. The
// test's end closes it.
func (s *Service) UserConn(t testing.TB, user, tier string, roles ...string) *grpc.ClientConn {
	t.Helper()
	conn, err := s.dialUser(user, tier, roles, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// AdminConn is UserConn for an operator: a user with auth.RoleAdmin.
func (s *Service) AdminConn(t testing.TB) *grpc.ClientConn {
	t.Helper()
	return s.UserConn(t, "ops", auth.TierNormal, auth.RoleAdmin)
}

// DialUser is UserConn without a test and without roles, with opts: the caller
// closes the connection.
func (s *Service) DialUser(user, tier string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return s.dialUser(user, tier, nil, opts)
}

func (s *Service) dialUser(user, tier string, roles []string, opts []grpc.DialOption) (*grpc.ClientConn, error) {
	return s.pki.DialUser(s.Addr, user, tier, roles, opts...)
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
