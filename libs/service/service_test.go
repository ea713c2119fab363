package service

import (
	"context"
	"flag"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/monoreel/monoreel/libs/grpcclient"
)

// TestAdminIsLoopbackWithoutPprof: by default the admin listener takes the port
// after gRPC's on loopback only, and pprof is off.
func TestAdminIsLoopbackWithoutPprof(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := AddFlags(fs, 9090)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f.Admin != "127.0.0.1:9091" || f.Pprof {
		t.Errorf("defaults: -admin_listen=%q -pprof=%v, want 127.0.0.1:9091 and false", f.Admin, f.Pprof)
	}
}

// start runs a service with no handler of its own on a loopback port.
func start(t *testing.T) string {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := AddFlags(fs, 0)
	if err := fs.Parse([]string{"-listen=127.0.0.1:0", "-admin_listen=", "-plaintext"}); err != nil {
		t.Fatal(err)
	}
	f.ShowVersion(io.Discard, "test", "v1.2.3")
	svc, err := New("test", f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, func(a net.Addr) { addr <- a.String() }) }()
	t.Cleanup(func() { cancel(); <-done })
	return <-addr
}

// TestReflection: a service lists its services by server reflection, so tools
// (grpcurl, grpcui, ghz) need no .proto file.
func TestReflection(t *testing.T) {
	conn, err := grpc.NewClient(start(t), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v: no %s", names, want)
		}
	}
}

// TestHealthGivesTheVersion: the health check's response header has the
// service's version (what the console shows of each backend).
func TestHealthGivesTheVersion(t *testing.T) {
	conn, err := grpc.NewClient(start(t), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var header metadata.MD
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if got := header.Get(VersionHeader); len(got) != 1 || got[0] != "v1.2.3" {
		t.Errorf("%s = %q, want v1.2.3", VersionHeader, got)
	}
}

// TestKeepaliveEnforced: a client that pings far more often than
// KeepaliveEnforcement allows is sent GOAWAY (too_many_pings), while Dial's own
// keepalive stays within it.
func TestKeepaliveEnforced(t *testing.T) {
	if grpcclient.Keepalive.Time < KeepaliveEnforcement.MinTime {
		t.Fatalf("grpcclient pings every %v, servers allow one every %v at most: every connection would be cut",
			grpcclient.Keepalive.Time, KeepaliveEnforcement.MinTime)
	}
	c, err := net.Dial("tcp", start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no GOAWAY after 5 quick pings: %v", err)
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			if ga.ErrCode != http2.ErrCodeEnhanceYourCalm || string(ga.DebugData()) != "too_many_pings" {
				t.Errorf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", ga.ErrCode, ga.DebugData())
			}
			return
		}
	}
}
