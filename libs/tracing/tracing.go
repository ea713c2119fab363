// Package tracing is how every Monoreel service traces its work with
// OpenTelemetry: a span for every RPC, server and client (otelgrpc), W3C
// trace context across every hop, parent-based ratio sampling whose ratio can
// change while the service runs (a flag, then the config center), and OTLP
// export with batching (the platform's practice: every 2 s, 512 spans a batch,
// a queue of 4096).
//
// Without -trace_endpoint spans are still made and their context still passed
// on (log lines carry trace_id and span_id, libs/obs), but nothing is exported.
package tracing

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Batching of the span export: the platform's practice.
const (
	batchTimeout = 2 * time.Second
	batchSize    = 512
	queueSize    = 4096
)

// Flags say where spans go and how many are kept.
type Flags struct {
	Endpoint string
	Ratio    float64
}

// AddFlags registers -trace_endpoint and -trace_sample_ratio on fs.
func AddFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Endpoint, "trace_endpoint", "", "OTLP/gRPC endpoint spans are exported to (host:port of a collector or Jaeger), over the service's mutual TLS (-tls_*; in the clear only under -plaintext); empty: none exported")
	fs.Float64Var(&f.Ratio, "trace_sample_ratio", 1, "the share of new traces sampled (0..1); a call in a sampled trace is always sampled. The config center's tracing/sample_ratio overrides it while the service runs")
	return f
}

// Tracing is a service's tracer provider.
type Tracing struct {
	provider *sdktrace.TracerProvider
	sampler  *RatioSampler
}

// Start sets up tracing for service (its version in the spans' resource) and
// makes it the process's global tracer provider and propagator. creds secure
// the export: the service's own client credentials (libs/mtls), so the
// collector knows who sends spans and the spans, which name users and videos,
// cross the network only over mutual TLS, as every other call does.
func (f *Flags) Start(ctx context.Context, service, version string, creds credentials.TransportCredentials) (*Tracing, error) {
	if f.Ratio < 0 || f.Ratio > 1 {
		return nil, fmt.Errorf("-trace_sample_ratio=%v: want 0..1", f.Ratio)
	}
	sampler := NewRatioSampler(f.Ratio)
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(service), semconv.ServiceVersion(version), semconv.ServiceInstanceID(instance())))
	if err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sdktrace.ParentBased(sampler))}
	if f.Endpoint != "" {
		if creds == nil {
			return nil, fmt.Errorf("-trace_endpoint %s: no transport credentials to export with", f.Endpoint)
		}
		exporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(f.Endpoint), otlptracegrpc.WithTLSCredentials(creds))
		if err != nil {
			return nil, fmt.Errorf("-trace_endpoint %s: %w", f.Endpoint, err)
		}
		opts = append(opts, sdktrace.WithBatcher(exporter,
			sdktrace.WithBatchTimeout(batchTimeout), sdktrace.WithMaxExportBatchSize(batchSize), sdktrace.WithMaxQueueSize(queueSize)))
	}
	t := &Tracing{provider: sdktrace.NewTracerProvider(opts...), sampler: sampler}
	otel.SetTracerProvider(t.provider)
	SetPropagator()
	return t, nil
}

// SetPropagator makes W3C trace context and baggage the process's propagation
// format: what otelgrpc puts in a call's metadata and Run in a process's
// environment.
func SetPropagator() {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
}

func instance() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// Sampler is the ratio sampler of new traces, which SetRatio changes.
func (t *Tracing) Sampler() *RatioSampler { return t.sampler }

// Shutdown exports the spans still queued, for up to the context's deadline.
func (t *Tracing) Shutdown(ctx context.Context) error {
	err := t.provider.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("tracing: spans still queued at shutdown were lost: %w", err)
	}
	return err
}

// ServerOption makes a span of every call a gRPC server serves, continuing
// the caller's trace. Health checks make none: probes every second would bury
// the traces people look for.
func ServerOption() grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithFilter(notHealth)))
}

// DialOption makes a span of every call a client makes (health checks aside),
// and passes its context on in the call's metadata (traceparent).
func DialOption() grpc.DialOption {
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithFilter(notHealth)))
}

var notHealth = filters.Not(filters.HealthCheck())
