package obs

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/libs/testutil"
)

// panicky is a health service whose handlers panic for the service "bad".
type panicky struct {
	healthpb.UnimplementedHealthServer
}

func (panicky) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if req.GetService() == "bad" {
		panic("check of " + req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (panicky) Watch(req *healthpb.HealthCheckRequest, _ healthpb.Health_WatchServer) error {
	panic("watch of " + req.GetService())
}

// TestPanicIsInternal: a handler's panic (unary or stream) answers that call
// Internal, is logged with its stack and counted, and the server goes on serving.
func TestPanicIsInternal(t *testing.T) {
	logs := &testutil.Buffer{}
	o, err := New(Options{Service: "test", LogJSON: true, Out: logs})
	if err != nil {
		t.Fatal(err)
	}
	conn := testproc.ServeGRPC(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, panicky{}) }, o.ServerOptions(nil, nil)...)
	client := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	for range 2 {
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "bad"})
		if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "/grpc.health.v1.Health/Check") {
			t.Fatalf("a panicking Check = %v, want Internal naming the method", err)
		}
	}
	watch, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "bad"})
	if err == nil {
		_, err = watch.Recv()
	}
	if status.Code(err) != codes.Internal {
		t.Fatalf("a panicking Watch = %v, want Internal", err)
	}
	if resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("after the panics, Check = %v, %v: the server should still serve", resp, err)
	}

	srv := httptest.NewServer(o.AdminHandler())
	defer srv.Close()
	_, metrics := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`grpc_server_panics_total{method="/grpc.health.v1.Health/Check"} 2`,
		`grpc_server_panics_total{method="/grpc.health.v1.Health/Watch"} 1`,
		`grpc_server_handled_total{code="Internal",method="/grpc.health.v1.Health/Check",shadow="false"} 2`,
		`grpc_server_handled_total{code="OK",method="/grpc.health.v1.Health/Check",shadow="false"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if l := logs.String(); !strings.Contains(l, "panic in a gRPC handler") || !strings.Contains(l, "check of bad") || !strings.Contains(l, "panicky.Check") {
		t.Errorf("the panic is not logged with its value and stack:\n%.2000s", l)
	}
}

// TestClientCallsAreTimed: DialOptions time unary and streaming calls by
// method and code.
func TestClientCallsAreTimed(t *testing.T) {
	o, err := New(Options{Service: "test", Out: &testutil.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	server, err := New(Options{Service: "server", Out: &testutil.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	served := testproc.ServeGRPC(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, panicky{}) }, server.ServerOptions(nil, nil)...)
	conn, err := grpc.NewClient(served.Target(), append(o.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	client.Check(ctx, &healthpb.HealthCheckRequest{})
	client.Check(ctx, &healthpb.HealthCheckRequest{Service: "bad"})
	if watch, err := client.Watch(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		watch.Recv()
	}

	srv := httptest.NewServer(o.AdminHandler())
	defer srv.Close()
	_, metrics := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`grpc_client_handling_seconds_count{code="OK",method="/grpc.health.v1.Health/Check"} 1`,
		`grpc_client_handling_seconds_count{code="Internal",method="/grpc.health.v1.Health/Check"} 1`,
		`grpc_client_handling_seconds_count{code="Internal",method="/grpc.health.v1.Health/Watch"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%.3000s", want, metrics)
		}
	}
}
