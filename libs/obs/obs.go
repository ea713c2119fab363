// Package obs is the one way every Monoreel service logs, exposes metrics and
// profiles, reports health and shuts down: structured logs (log/slog), Prometheus
// metrics and (if enabled) pprof on an admin listener, the gRPC health service,
// gRPC interceptors that count and time every call (server and client side) and
// turn a handler's panic into an Internal error, and a graceful-shutdown helper.
//
//	o, err := obs.New(obs.Options{Service: "idgen", AdminAddr: "127.0.0.1:9091"})
//	srv := grpc.NewServer(o.ServerOptions(nil, nil)...)
//	o.RegisterHealth(srv)
//	return o.Run(ctx, srv, lis)     // serves until SIGTERM, then drains
package obs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Options configures New. Only Service is required.
type Options struct {
	Service   string
	AdminAddr string        // metrics, /healthz and (with Pprof) pprof; none if empty
	Pprof     bool          // serve /debug/pprof/ on the admin listener (off: it exposes internals and costs CPU)
	LogJSON   bool          // JSON logs (for collectors) instead of text
	LogLevel  slog.Level    // slog.LevelInfo by default
	Out       io.Writer     // where logs go; stderr by default
	Grace     time.Duration // how long Run lets in-flight calls finish; 10s by default
}

// Obs holds a service's logger, metrics, health and admin listener.
type Obs struct {
	Log      *slog.Logger
	Registry *prometheus.Registry
	Health   *health.Server
	// BeforeDrain, if set, runs when Run begins to shut down, before health
	// turns NOT_SERVING and in-flight calls drain: a fleet's instance leaves
	// discovery there, so no new call comes.
	BeforeDrain func()

	opts          Options
	calls         *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	panics        *prometheus.CounterVec
	clientLatency *prometheus.HistogramVec
}

// New sets up observability for one service.
func New(opts Options) (*Obs, error) {
	if opts.Service == "" {
		return nil, errors.New("obs: Options.Service is required")
	}
	if opts.Out == nil {
		opts.Out = os.Stderr
	}
	if opts.Grace == 0 {
		opts.Grace = 10 * time.Second
	}
	handlerOpts := &slog.HandlerOptions{Level: opts.LogLevel}
	var handler slog.Handler = slog.NewTextHandler(opts.Out, handlerOpts)
	if opts.LogJSON {
		handler = slog.NewJSONHandler(opts.Out, handlerOpts)
	}
	o := &Obs{
		Log:      slog.New(traceHandler{handler}).With("service", opts.Service),
		Registry: prometheus.NewRegistry(),
		Health:   health.NewServer(),
		opts:     opts,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total", Help: "gRPC calls completed, by method, status code and whether they were shadow traffic.",
		}, []string{"method", "code", "shadow"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grpc_server_handling_seconds", Help: "Time to handle a gRPC call, by method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"method"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_panics_total", Help: "gRPC handlers that panicked (answered Internal), by method.",
		}, []string{"method"}),
		clientLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grpc_client_handling_seconds", Help: "Time of a gRPC call this service made to another, by method and status code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"method", "code"}),
	}
	o.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		o.calls, o.latency, o.panics, o.clientLatency,
	)
	return o, nil
}

// RegisterHealth registers the gRPC health service on srv. It reports SERVING
// until Run begins to shut down.
func (o *Obs) RegisterHealth(srv *grpc.Server) { healthpb.RegisterHealthServer(srv, o.Health) }

// AdminHandler serves /metrics, /healthz and, with Options.Pprof, /debug/pprof/.
func (o *Obs) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	if o.opts.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		resp, err := o.Health.Check(r.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Run serves srv on lis (and the admin handler on Options.AdminAddr) until ctx
// ends or the process gets SIGTERM or SIGINT. It then reports NOT_SERVING, lets
// in-flight calls finish for up to Options.Grace, and returns. ready, if set, is
// called once both listeners accept connections, with the admin address (nil
// without one).
func (o *Obs) Run(ctx context.Context, srv *grpc.Server, lis net.Listener, ready func(admin net.Addr)) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var admin *http.Server
	var adminAddr net.Addr
	adminErr := make(chan error, 1)
	if o.opts.AdminAddr != "" {
		adminLis, err := net.Listen("tcp", o.opts.AdminAddr)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		adminAddr = adminLis.Addr()
		admin = &http.Server{Handler: o.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { adminErr <- admin.Serve(adminLis) }()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	o.Log.Info("serving", "grpc", lis.Addr().String(), "admin", fmt.Sprint(adminAddr))
	if ready != nil {
		ready(adminAddr)
	}

	var err error
	select {
	case err = <-served:
	case err = <-adminErr:
		srv.Stop()
	case <-ctx.Done():
		o.Log.Info("shutting down", "grace", o.opts.Grace)
		if o.BeforeDrain != nil {
			o.BeforeDrain()
		}
		o.Health.Shutdown()
		GracefulStop(srv, o.opts.Grace)
	}
	if admin != nil {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		admin.Shutdown(shutdownCtx)
	}
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}

// GracefulStop lets in-flight calls finish for up to grace, then cuts them off.
func GracefulStop(srv *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		srv.Stop()
	}
}
