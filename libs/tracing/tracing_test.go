package tracing

import (
	"bytes"
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// recorder makes spans sampled by s and keeps them in memory.
func recorder(t *testing.T, s sdktrace.Sampler) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(s)), sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	return rec
}

// TestRatioChangesWhileRunning: a ratio of 0 samples nothing, 1 everything,
// and the change applies to the next trace.
func TestRatioChangesWhileRunning(t *testing.T) {
	s := NewRatioSampler(0)
	rec := recorder(t, s)
	tr := otel.Tracer("test")
	for range 100 {
		_, span := tr.Start(context.Background(), "op")
		span.End()
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("ratio 0 recorded %d spans", n)
	}
	if err := s.SetRatio(1); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		_, span := tr.Start(context.Background(), "op")
		span.End()
	}
	if n := len(rec.Ended()); n != 100 {
		t.Errorf("ratio 1 recorded %d of 100 spans", n)
	}
	if err := s.SetRatio(1.5); err == nil || s.Ratio() != 1 {
		t.Errorf("SetRatio(1.5) = %v, ratio now %v: want an error and 1 kept", err, s.Ratio())
	}
}

// TestContextCrossesAGRPCHop: a client span's context reaches a real server
// over loopback in traceparent, and the server's span is its child; health
// checks make no span.
func TestContextCrossesAGRPCHop(t *testing.T) {
	rec := recorder(t, NewRatioSampler(1))
	SetPropagator()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(ServerOption())
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), DialOption())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, root := otel.Tracer("test").Start(context.Background(), "root")
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	// A call of another service: reflection's list of services.
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("the end of the reflection stream: %v", err)
	}
	root.End()
	srv.GracefulStop() // the server span ends with the call's stats
	var client, server sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindClient:
			client = s
		case trace.SpanKindServer:
			server = s
		}
	}
	if client == nil || server == nil || len(rec.Ended()) != 3 {
		t.Fatalf("spans %v: want the root, a client and a server span (none of the health check)", rec.Ended())
	}
	if server.Parent().SpanID() != client.SpanContext().SpanID() || server.SpanContext().TraceID() != root.SpanContext().TraceID() {
		t.Errorf("the server span's parent is %v, want the client span %v in the root's trace", server.Parent(), client.SpanContext())
	}
}

// TestProcessGetsTheSpanContext: a child process runs as a span and finds it in
// TRACEPARENT; Parent, Continue and Link carry a span context through a string.
func TestProcessGetsTheSpanContext(t *testing.T) {
	rec := recorder(t, NewRatioSampler(1))
	SetPropagator()
	ctx, root := otel.Tracer("test").Start(context.Background(), "root")
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `echo "$TRACEPARENT"`)
	cmd.Stdout = &out
	if err := Run(ctx, "sh", cmd); err != nil {
		t.Fatal(err)
	}
	root.End()
	var child sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "sh" {
			child = s
		}
	}
	if child == nil || child.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Fatalf("no child span of root named sh: %v", rec.Ended())
	}
	want := "00-" + child.SpanContext().TraceID().String() + "-" + child.SpanContext().SpanID().String() + "-01"
	if got := strings.TrimSpace(out.String()); got != want {
		t.Errorf("the process saw TRACEPARENT=%q, want %q", got, want)
	}
	parent := Parent(ctx)
	if sc := trace.SpanContextFromContext(Continue(context.Background(), parent)); sc.SpanID() != root.SpanContext().SpanID() {
		t.Errorf("Continue(Parent(ctx)) = %v, want the root's span", sc)
	}
	if l := Link(parent); l.SpanContext.TraceID() != root.SpanContext().TraceID() {
		t.Errorf("Link(Parent(ctx)) = %v", l.SpanContext)
	}
	if Parent(context.Background()) != "" {
		t.Error("Parent of a context without a span is not empty")
	}
}

// TestFlagsCheckTheRatio: a ratio out of 0..1 is refused by name.
func TestFlagsCheckTheRatio(t *testing.T) {
	if _, err := (&Flags{Ratio: 2}).Start(context.Background(), "test", "", nil); err == nil || !strings.Contains(err.Error(), "-trace_sample_ratio=2") {
		t.Errorf("Start with ratio 2: %v", err)
	}
}

// TestExportNeedsCredentials: an endpoint with no credentials to reach it is
// refused at start, rather than exporting in the clear by default.
func TestExportNeedsCredentials(t *testing.T) {
	if _, err := (&Flags{Endpoint: "127.0.0.1:4317", Ratio: 1}).Start(context.Background(), "test", "", nil); err == nil || !strings.Contains(err.Error(), "no transport credentials") {
		t.Errorf("Start with an endpoint and no credentials: %v", err)
	}
}
