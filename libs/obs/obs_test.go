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

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

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
		!strings.Contains(body, `grpc_server_handled_total{code="OK",method="/grpc.health.v1.Health/Check",shadow="false"} 1`) ||
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

// TestPprofIsOffUnlessEnabled: without Options.Pprof the admin handler serves
// metrics and health but no profiles.
func TestPprofIsOffUnlessEnabled(t *testing.T) {
	o, err := New(Options{Service: "test", Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(o.AdminHandler())
	defer srv.Close()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/profile", "/debug/pprof/cmdline"} {
		if code, _ := get(t, srv.URL+path); code != http.StatusNotFound {
			t.Errorf("%s = %d without Pprof, want 404", path, code)
		}
	}
	if code, _ := get(t, srv.URL+"/metrics"); code != 200 {
		t.Errorf("/metrics = %d", code)
	}
}

// TestLogLinesCarryTheTrace: a line logged with a call's context names its
// trace and span; one without names neither.
func TestLogLinesCarryTheTrace(t *testing.T) {
	logs := &testutil.Buffer{}
	o, err := New(Options{Service: "test", LogJSON: true, Out: logs})
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled})
	o.Log.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "in a call")
	o.Log.Info("outside")
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"trace_id":"`+sc.TraceID().String()+`"`) ||
		!strings.Contains(lines[0], `"span_id":"`+sc.SpanID().String()+`"`) || strings.Contains(lines[1], "trace_id") {
		t.Errorf("log lines:\n%s", logs)
	}
}

// TestClientStreamEndsWithEOF: a server stream timed by DialOptions still ends
// with io.EOF for its caller (the time is recorded as OK): a caller reading
// until io.EOF must not read empty messages forever.
func TestClientStreamEndsWithEOF(t *testing.T) {
	o, err := New(Options{Service: "test", Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		if err := ss.RecvMsg(&healthpb.HealthCheckRequest{}); err != nil {
			return err
		}
		return ss.SendMsg(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
	}))
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), append(o.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/test.Stream/Once")
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SendMsg(&healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	cs.CloseSend()
	var resp healthpb.HealthCheckResponse
	if err := cs.RecvMsg(&resp); err != nil {
		t.Fatal(err)
	}
	if err := cs.RecvMsg(&resp); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
	srvMetrics := httptest.NewServer(o.AdminHandler())
	defer srvMetrics.Close()
	if _, body := get(t, srvMetrics.URL+"/metrics"); !strings.Contains(body, `grpc_client_handling_seconds_count{code="OK",method="/test.Stream/Once"} 1`) {
		t.Errorf("the stream is not timed once, as OK:\n%s", body)
	}
}
