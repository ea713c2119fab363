package grpcclient

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/monoreel/monoreel/libs/coloring"
)

// health records the colour each call arrives with.
type health struct {
	healthpb.UnimplementedHealthServer
	seen chan coloring.Color
}

func (h *health) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	c, _ := coloring.FromContext(ctx)
	h.seen <- c
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// TestDialPassesTheColourOn: a call on a Dial connection carries the caller's
// colour to a server behind the colouring interceptors, as every service is.
func TestDialPassesTheColourOn(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &health{seen: make(chan coloring.Color, 1)}
	srv := grpc.NewServer(grpc.UnaryInterceptor(coloring.UnaryServerInterceptor()))
	healthpb.RegisterHealthServer(srv, h)
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := Dial(lis.Addr().String(), insecure.NewCredentials())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := coloring.Color{Region: "eu-west", Shadow: true}
	ctx := coloring.NewContext(context.Background(), want)
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := <-h.seen; got != want {
		t.Errorf("the server saw %+v, want %+v", got, want)
	}
}
