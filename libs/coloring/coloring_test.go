package coloring

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// hop is a Health server that records the colour it sees and, if next is set,
// calls next (through the client interceptors) before answering.
type hop struct {
	healthpb.UnimplementedHealthServer
	seen  chan Color
	next  healthpb.HealthClient
	watch bool
}

func (h *hop) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	c, _ := FromContext(ctx)
	h.seen <- c
	if h.next != nil {
		return h.next.Check(ctx, req)
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (h *hop) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	c, _ := FromContext(stream.Context())
	h.seen <- c
	return stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
}

// serve starts h behind the server interceptors on loopback and returns a client
// with the client interceptors.
func serve(t *testing.T, h *hop) healthpb.HealthClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(UnaryServerInterceptor()), grpc.StreamInterceptor(StreamServerInterceptor()))
	healthpb.RegisterHealthServer(srv, h)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(UnaryClientInterceptor()), grpc.WithStreamInterceptor(StreamClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func TestColourTravelsAcrossTwoHops(t *testing.T) {
	last := &hop{seen: make(chan Color, 1)}
	first := &hop{seen: make(chan Color, 1), next: serve(t, last)}
	client := serve(t, first)

	// The edge sends raw headers, mixed case and padded: they arrive normalised.
	ctx := metadata.AppendToOutgoingContext(context.Background(), "X-Region", " EU-West-1 ", "X-Shadow", "Yes")
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	want := Color{Region: "eu-west-1", Shadow: true}
	if got := <-first.seen; got != want {
		t.Errorf("first hop saw %+v, want %+v", got, want)
	}
	if got := <-last.seen; got != want {
		t.Errorf("second hop saw %+v, want %+v", got, want)
	}
}

func TestStreamingCallsCarryTheColour(t *testing.T) {
	h := &hop{seen: make(chan Color, 1)}
	client := serve(t, h)
	ctx := NewContext(context.Background(), Color{Region: "ap-south-1"})
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if got := <-h.seen; got != (Color{Region: "ap-south-1"}) {
		t.Errorf("stream saw %+v", got)
	}
}

func TestBadValuesAreRejected(t *testing.T) {
	client := serve(t, &hop{seen: make(chan Color, 1)})
	for _, kv := range [][2]string{
		{"x-region", "eu west"},
		{"x-region", "-eu"},
		{"x-region", strings.Repeat("a", 33)},
		{"x-shadow", "maybe"},
	} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), kv[0], kv[1])
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), kv[0]) {
			t.Errorf("%s=%q: %v, want InvalidArgument naming the header", kv[0], kv[1], err)
		}
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-region", "eu-west-1", "x-region", "us-east-1")
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("conflicting regions: %v", err)
	}
}

func TestNoColourNoContextValue(t *testing.T) {
	h := &hop{seen: make(chan Color, 1)}
	if _, err := serve(t, h).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := <-h.seen; got != (Color{}) {
		t.Errorf("uncoloured call saw %+v", got)
	}
}

func TestPick(t *testing.T) {
	eps := []Endpoint{
		{Addr: "a", Region: "eu-west-1", Healthy: true},
		{Addr: "b", Region: "eu-west-1", Healthy: false, ShadowCapable: true},
		{Addr: "c", Region: "us-east-1", Healthy: true, ShadowCapable: true},
		{Addr: "d", Region: "us-east-1", Healthy: true},
	}
	addrs := func(es []Endpoint) string {
		var s []string
		for _, e := range es {
			s = append(s, e.Addr)
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		color Color
		want  string
	}{
		{Color{Region: "eu-west-1"}, "a"},
		{Color{Region: "us-east-1"}, "c,d"},
		{Color{Region: "ap-south-1"}, "a,c,d"}, // none local: fall back
		{Color{}, "a,c,d"},
		{Color{Region: "eu-west-1", Shadow: true}, "c"}, // the local shadow one is down
	} {
		got, err := Pick(eps, c.color)
		if err != nil || addrs(got) != c.want {
			t.Errorf("Pick(%+v) = %s, %v; want %s", c.color, addrs(got), err, c.want)
		}
	}
	if _, err := Pick(eps[:1], Color{Shadow: true}); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("shadow with no shadow-capable endpoint: %v, want ErrNoEndpoint", err)
	}
}

// FuzzParseRegion: a region is accepted only in its normal form's alphabet, and
// normalising is idempotent.
func FuzzParseRegion(f *testing.F) {
	for _, s := range []string{"eu-west-1", " US-EAST-2 ", "a", "-", "a--b", "x9", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		region, err := ParseRegion(in)
		if err != nil {
			return
		}
		if again, err := ParseRegion(region); err != nil || again != region {
			t.Fatalf("ParseRegion(%q) = %q, then %q, %v", in, region, again, err)
		}
		for _, r := range region {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				t.Fatalf("ParseRegion(%q) = %q has %q", in, region, r)
			}
		}
	})
}

func FuzzParseShadow(f *testing.F) {
	for _, s := range []string{"true", "0", "YES", "maybe", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		v, err := ParseShadow(in)
		if err != nil {
			return
		}
		s := "false"
		if v {
			s = "true"
		}
		if back, err := ParseShadow(s); err != nil || back != v {
			t.Fatalf("%q -> %v does not round-trip", in, v)
		}
	})
}

// TestShadowIsMarkedOnTheSpan: the server interceptor marks a shadow call's
// span, so traces tell shadow work from production's.
func TestShadowIsMarkedOnTheSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	for _, shadow := range []string{"true", "false"} {
		ctx, span := tp.Tracer("test").Start(context.Background(), "call "+shadow)
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(ShadowKey, shadow))
		if _, err := UnaryServerInterceptor()(ctx, nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
		span.End()
	}
	for _, s := range rec.Ended() {
		marked := slices.ContainsFunc(s.Attributes(), func(kv attribute.KeyValue) bool {
			return kv.Key == "monoreel.shadow" && kv.Value.AsBool()
		})
		if want := s.Name() == "call true"; marked != want {
			t.Errorf("%s: marked shadow %v, want %v", s.Name(), marked, want)
		}
	}
}
