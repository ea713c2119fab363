package forward

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

// serve forwards the health API to a backend in the test and serves it on
// HTTP through vanguard, as the console does; it returns the base URL and the
// authorization headers the backend saw.
func serve(t *testing.T) (string, chan []string) {
	t.Helper()
	seen := make(chan []string, 10)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		seen <- md.Get("authorization")
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(backend, health.NewServer())
	go backend.Serve(lis)
	t.Cleanup(backend.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	inner := grpc.NewServer(grpc.ForceServerCodecV2(Codec{}))
	Register(inner, healthpb.File_grpc_health_v1_health_proto.Services().Get(0), conn)
	transcoder, err := vanguardgrpc.NewTranscoder(inner)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(transcoder)
	t.Cleanup(srv.Close)
	return srv.URL, seen
}

// TestForward: a unary call and a server stream go through, over Connect and
// gRPC-Web, with the caller's token; without one the call is refused.
func TestForward(t *testing.T) {
	url, seen := serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for name, opts := range map[string][]connect.ClientOption{"connect": nil, "grpc-web": {connect.WithGRPCWeb()}} {
		check := connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](http.DefaultClient, url+"/grpc.health.v1.Health/Check", opts...)
		req := connect.NewRequest(&healthpb.HealthCheckRequest{})
		req.Header().Set("Authorization", "Bearer t0ken")
		resp, err := check.CallUnary(ctx, req)
		if err != nil || resp.Msg.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("%s: Check: %v, %v", name, resp, err)
		}
		if got := <-seen; len(got) != 1 || got[0] != "Bearer t0ken" {
			t.Errorf("%s: the backend saw authorization %q", name, got)
		}
		watch := connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](http.DefaultClient, url+"/grpc.health.v1.Health/Watch", opts...)
		wreq := connect.NewRequest(&healthpb.HealthCheckRequest{})
		wreq.Header().Set("Authorization", "Bearer t0ken")
		stream, err := watch.CallServerStream(ctx, wreq)
		if err != nil {
			t.Fatal(err)
		}
		if !stream.Receive() || stream.Msg().GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s: Watch: %v, %v", name, stream.Msg(), stream.Err())
		}
		// A unary call while the stream is open.
		if resp, err := check.CallUnary(ctx, req); err != nil || resp.Msg.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("%s: Check while watching: %v, %v", name, resp, err)
		}
		<-seen
		stream.Close()
		_, err = check.CallUnary(ctx, connect.NewRequest(&healthpb.HealthCheckRequest{}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s: Check without a token: %v, want unauthenticated", name, err)
		}
	}
}
