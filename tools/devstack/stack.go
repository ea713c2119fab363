package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/monoreel/monoreel/libs/discovery"
	"github.com/monoreel/monoreel/libs/edgecache"
	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/libs/tracing"
	"github.com/monoreel/monoreel/tools/devstack/platform"
	"github.com/monoreel/monoreel/tools/monitoring"
)

// stack is the platform running on loopback: every service with its embedded
// default, plus an HTTP origin over the transcode output and a caching edge in
// front of it (the CDN that cdnpush warms).
type stack struct {
	dir      string
	pki      *testproc.PKI // the CA of every service's certificate, and the token issuer
	conns    []*grpc.ClientConn
	order    []string                       // the services, in start order
	svc      map[string]*testproc.Service   // the first instance of each service
	fleet    *fleet                         // with -replicas above 1
	replicas map[string][]*testproc.Service // every instance of each service
	killed   map[*testproc.Service]bool     // by the harness (chaos)
	mu       sync.Mutex                     // guards killed
	started  map[string]time.Duration       // how long each took to become healthy
	edge     *edgecache.Edge
	edgeURL  string
	servers  []*http.Server
	layout   platform.Layout        // where the services keep their state
	prom     *monitoring.Prometheus // with -prometheus
	jaeger   *monitoring.Jaeger     // with -jaeger: every service traces to it
	tracing  *tracing.Tracing       // devstack's own spans (the scenario's calls)
	consoles []string               // the web console's URL, of each instance
}

// startStack starts everything under dir (data, logs, and a new PKI in
// dir/pki): the services in the order given, over mutual TLS with users known by
// tokens, as in production; ffmpeg for transcode and aitag. With a fleet, each
// service runs as fleet.replicas instances behind discovery (the stack stops
// the fleet too).
func startStack(dir string, binaries serviceFlags, ffmpeg, jaeger string, f *fleet, log io.Writer) (*stack, error) {
	s := &stack{dir: dir, svc: map[string]*testproc.Service{}, fleet: f, replicas: map[string][]*testproc.Service{},
		killed: map[*testproc.Service]bool{}, started: map[string]time.Duration{},
		layout: platform.Layout{Dir: dir, FFmpeg: ffmpeg, Instance: "devstack"}}
	var err error
	if s.pki, err = testproc.NewPKI(filepath.Join(dir, "pki")); err != nil {
		return nil, err
	}
	var traceArgs []string
	traces := tracing.Flags{Ratio: 1}
	if jaeger != "" {
		if s.jaeger, err = monitoring.LaunchJaeger(jaeger, filepath.Join(dir, "jaeger"), s.pki.Dir); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "  %-13s traces on %s (OTLP %s)\n", "jaeger", s.jaeger.Query, s.jaeger.OTLP)
		traces.Endpoint = s.jaeger.OTLP
		traceArgs = []string{"-trace_endpoint=" + s.jaeger.OTLP}
	}
	// devstack's own calls are spans too: the roots of the scenario's traces.
	creds, err := s.pki.ServiceCredentials(testproc.Harness)
	if err != nil {
		s.stop()
		return nil, err
	}
	if s.tracing, err = traces.Start(context.Background(), "devstack", "", creds); err != nil {
		s.stop()
		return nil, err
	}
	layout := &s.layout
	for _, d := range []string{layout.HLS(), layout.Logs()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	origin, err := s.serve(http.FileServer(http.Dir(layout.HLS())))
	if err != nil {
		return nil, err
	}
	s.edge = edgecache.New(origin)
	if s.edgeURL, err = s.serve(s.edge); err != nil {
		s.stop()
		return nil, err
	}
	layout.EdgeURL = s.edgeURL
	replicas := 1
	if f != nil {
		replicas = f.replicas
	}
	for _, b := range binaries {
		name := b.name
		callFlags, err := platform.CallFlags(name, func(callee string) (string, bool) {
			if s.svc[callee] == nil {
				return "", false
			}
			if f != nil {
				return "etcd:///" + callee, true
			}
			return s.svc[callee].Addr, true
		})
		if err != nil {
			s.stop()
			return nil, err
		}
		for i := range replicas {
			start := time.Now()
			args := slices.Concat(layout.Flags(name), traceArgs, callFlags)
			if name == "console" {
				// Browsers reach it on a port of its own.
				web, err := testproc.PickAddr()
				if err != nil {
					s.stop()
					return nil, err
				}
				args = append(args, layout.ConsoleFlags(web, s.pki.Dir.TokenKeyFile(), "vip=vip,robot=robot", "ops")...)
				s.consoles = append(s.consoles, "http://"+web+"/")
			}
			logName := name
			if f != nil {
				args = append(args, f.args(name, i, dir)...)
				logName = fmt.Sprintf("%s-%d", name, i)
			}
			svc, err := testproc.LaunchService(s.pki, b.path, filepath.Join(layout.Logs(), logName+".log"), args...)
			if err != nil {
				s.stop()
				return nil, fmt.Errorf("%s: %w", logName, err)
			}
			if i == 0 {
				s.order = append(s.order, name)
				s.svc[name], s.started[name] = svc, time.Since(start)
			}
			s.replicas[name] = append(s.replicas[name], svc)
			fmt.Fprintf(log, "  %-13s healthy on %s in %v\n", logName, svc.Addr, time.Since(start).Round(time.Millisecond))
			if name == "console" {
				fmt.Fprintf(log, "  %-13s %s\n", "console web", s.consoles[len(s.consoles)-1])
			}
		}
	}
	return s, nil
}

// userConn is a connection to service as user (with tier), by a token of the
// stack's issuer, as the user's client makes it; stop closes it.
func (s *stack) userConn(service, user, tier string) (*grpc.ClientConn, error) {
	target, opts := s.svc[service].Addr, []grpc.DialOption{tracing.DialOption()}
	if s.fleet != nil {
		target, opts = "etcd:///"+service, append(opts, grpc.WithResolvers(discovery.NewResolver(s.fleet.registry)))
	}
	conn, err := s.pki.DialUser(target, user, tier, nil, opts...)
	if err != nil {
		return nil, err
	}
	s.conns = append(s.conns, conn)
	return conn, nil
}

// kill kills instance i of service with SIGKILL: no draining, no
// deregistering, as a machine dies.
func (s *stack) kill(service string, i int) {
	svc := s.replicas[service][i]
	svc.Process.Stop()
	s.mu.Lock()
	s.killed[svc] = true
	s.mu.Unlock()
}

// live returns the instances of service the harness has not killed.
func (s *stack) live(service string) []*testproc.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	var live []*testproc.Service
	for _, svc := range s.replicas[service] {
		if !s.killed[svc] {
			live = append(live, svc)
		}
	}
	return live
}

// serve serves h on a free loopback port and returns its base URL.
func (s *stack) serve(h http.Handler) (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go srv.Serve(lis)
	return "http://" + lis.Addr().String(), nil
}

// stop stops Prometheus, the services, last started first, and the HTTP
// servers.
func (s *stack) stop() {
	for _, conn := range s.conns {
		conn.Close()
	}
	if s.prom != nil {
		s.prom.Stop()
	}
	for i := len(s.order) - 1; i >= 0; i-- {
		for _, svc := range s.replicas[s.order[i]] {
			svc.Stop()
		}
	}
	if s.fleet != nil {
		s.fleet.stop()
	}
	for _, srv := range s.servers {
		srv.Close()
	}
	if s.tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.tracing.Shutdown(ctx)
	}
	if s.jaeger != nil {
		s.jaeger.Stop()
	}
}
