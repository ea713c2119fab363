package obs

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/testutil"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestRunServesAndDrains runs a real gRPC server with the admin listener, checks
// metrics, pprof and health, then stops it while a slow call is in flight: the
// call completes and health turns NOT_SERVING first.
func TestRunServesAndDrains(t *testing.T) {
	logs := &testutil.Buffer{}
	o, err := New(Options{Service: "test", AdminAddr: "127.0.0.1:0", Pprof: true, LogJSON: true, Out: logs, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(o.ServerOptions(nil, nil)...)
	o.RegisterHealth(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	adminCh := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx, srv, lis, func(a net.Addr) { adminCh <- a }) }()
	admin := "http://" + (<-adminCh).String()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}

	if code, body := get(t, admin+"/metrics"); code != 200 ||
		!strings.Contains(body, `grpc_server_handled_total{code="OK",method="/grpc.health.v1.Health/Check"} 1`) ||
		!strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d:\n%.3000s", code, body)
	}
	if code, body := get(t, admin+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ = %d", code)
	}
	if code, _ := get(t, admin+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d while serving", code)
	}

	// A watcher sees the health flip to NOT_SERVING when shutdown starts.
	watch, err := client.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := watch.Recv(); err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health = %v, %v", first, err)
	}
	cancel()
	if next, err := watch.Recv(); err != nil || next.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health during shutdown = %v, %v; want NOT_SERVING", next, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if !strings.Contains(logs.String(), `"msg":"shutting down"`) || !strings.Contains(logs.String(), `"service":"test"`) {
		t.Errorf("logs:\n%s", logs)
	}
}

// TestPprofOnlyWhenAsked: profiles are not served unless Options.Pprof.
func TestPprofOnlyWhenAsked(t *testing.T) {
	o, err := New(Options{Service: "test", Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(o.AdminHandler())
	defer srv.Close()
	if code, _ := get(t, srv.URL+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without Pprof = %d, want 404", code)
	}
	if code, _ := get(t, srv.URL+"/metrics"); code != http.StatusOK {
		t.Errorf("/metrics = %d", code)
	}
}

// panicky panics in Check: a bug in a handler.
type panicky struct {
	healthpb.UnimplementedHealthServer
}

func (panicky) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	panic("boom: an index out of range, say")
}

// TestPanicBecomesInternal: a panicking handler gives the caller Internal, is
// logged with its stack and counted, and the server goes on serving.
func TestPanicBecomesInternal(t *testing.T) {
	logs := &testutil.Buffer{}
	o, err := New(Options{Service: "test", Out: logs})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(o.ServerOptions(nil, nil)...)
	healthpb.RegisterHealthServer(srv, panicky{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 2 { // the second call proves the process survived the first
		_, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if status.Code(err) != codes.Internal {
			t.Fatalf("call %d to a panicking handler: %v, want Internal", i, err)
		}
	}
	if !strings.Contains(logs.String(), "handler panicked") || !strings.Contains(logs.String(), "boom: an index out of range") {
		t.Errorf("the panic is not logged with its cause:\n%s", logs)
	}
	srvHTTP := httptest.NewServer(o.AdminHandler())
	defer srvHTTP.Close()
	if _, body := get(t, srvHTTP.URL+"/metrics"); !strings.Contains(body, `grpc_server_panics_total{method="/grpc.health.v1.Health/Check"} 2`) {
		t.Errorf("panics not counted:\n%.2000s", body)
	}
}

func TestGracefulStopCutsOffAfterGrace(t *testing.T) {
	srv := grpc.NewServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	healthpb.RegisterHealthServer(srv, blockingHealth{})
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	callDone := make(chan error, 1)
	go func() {
		_, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		callDone <- err
	}()
	time.Sleep(100 * time.Millisecond) // the call is in flight and never ends by itself
	stopped := make(chan struct{})
	go func() {
		GracefulStop(srv, 200*time.Millisecond)
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("GracefulStop did not cut off a call that outlived the grace period")
	}
	if err := <-callDone; err == nil {
		t.Error("the cut-off call succeeded")
	}
}

// blockingHealth never answers Check until the server stops.
type blockingHealth struct {
	healthpb.UnimplementedHealthServer
}

func (blockingHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestNewNeedsAService(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without a service name succeeded")
	}
}
