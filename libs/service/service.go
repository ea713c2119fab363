// Package service is the frame every Monoreel gRPC service runs in: the flags all
// of them have, mutual TLS (libs/mtls), the check of who may call what
// (libs/auth), logs, metrics, pprof and health (libs/obs), traffic colouring
// (libs/coloring) on the server, and graceful shutdown on SIGTERM. A service's
// main parses its own flags next to these, builds its handlers, registers them on
// Server and calls Run. Calls to other services go through Dial, with the
// service's own certificate.
package service

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/discovery"
	"github.com/monoreel/monoreel/libs/grpcclient"
	"github.com/monoreel/monoreel/libs/mtls"
	"github.com/monoreel/monoreel/libs/obs"
	"github.com/monoreel/monoreel/libs/tracing"
)

// Flags are the flags every service has.
type Flags struct {
	Listen  string
	Admin   string
	Pprof   bool
	Grace   time.Duration
	Version bool
	TLS     *mtls.Flags
	Token   *auth.Flags
	Trace   *tracing.Flags
	// Fleet: with Registry, the instance registers in etcd (libs/discovery)
	// and its Dial resolves etcd:///<service> targets.
	Registry      string
	RegistryTTL   time.Duration
	Region        string
	Advertise     string
	ShadowCapable bool
	version       string // the service's, once ShowVersion has seen it
}

// AddFlags registers the common flags on fs: gRPC on grpcPort, the admin
// listener on grpcPort+1 of loopback (it has no authentication: a scraper
// elsewhere needs -admin_listen=:PORT on a private network).
func AddFlags(fs *flag.FlagSet, grpcPort int) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Listen, "listen", fmt.Sprintf(":%d", grpcPort), "gRPC listen address (host:port)")
	fs.StringVar(&f.Admin, "admin_listen", fmt.Sprintf("127.0.0.1:%d", grpcPort+1), "metrics, /healthz and (with -pprof) pprof listen address, unauthenticated (none if empty)")
	fs.BoolVar(&f.Pprof, "pprof", false, "serve /debug/pprof/ on the admin listener")
	fs.DurationVar(&f.Grace, "shutdown_grace", 10*time.Second, "how long in-flight calls may take after SIGTERM")
	fs.BoolVar(&f.Version, "version", false, "print the version and exit")
	f.TLS = mtls.AddFlags(fs)
	f.Token = auth.AddFlags(fs)
	f.Trace = tracing.AddFlags(fs)
	fs.StringVar(&f.Registry, "registry", "", "comma-separated etcd endpoints: register this instance there and resolve etcd:///<service> addresses (libs/discovery); empty: fixed addresses only")
	fs.DurationVar(&f.RegistryTTL, "registry_ttl", 10*time.Second, "with -registry: the lease of this instance's registration; a killed instance leaves the set within it")
	fs.StringVar(&f.Region, "region", "", "this instance's region, for callers' region-aware balancing")
	fs.StringVar(&f.Advertise, "advertise", "", "the address other instances reach this one at (default: -listen, when it names a host)")
	fs.BoolVar(&f.ShadowCapable, "shadow_capable", true, "whether this instance takes shadow traffic")
	return f
}

// RunFunc is a service's body: it parses args, serves until ctx ends or SIGTERM,
// and calls ready (if set) with its gRPC address once it accepts calls. Tests
// call it directly; Main calls it for the process.
type RunFunc func(ctx context.Context, args []string, stdout io.Writer, ready func(net.Addr)) error

// Main runs a service's RunFunc with the process's arguments and exits with
// status 1, naming the service and the error, if it fails.
func Main(name string, run RunFunc) {
	if err := run(context.Background(), os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// ShowVersion prints "name version" and returns true if -version was given.
// The version also names the service's build in its traces.
func (f *Flags) ShowVersion(stdout io.Writer, name, version string) bool {
	f.version = version
	if f.Version {
		fmt.Fprintln(stdout, name, version)
	}
	return f.Version
}

// KeepaliveEnforcement is what every server accepts of its clients' keepalive
// pings: one every MinTime at most (grpcclient.Keepalive pings less often), even
// with no call in flight. A client pinging faster is sent GOAWAY.
var KeepaliveEnforcement = keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}

// keepaliveServer pings a client after a minute of silence and drops it if no
// answer comes: a vanished client's streams (danmaku rooms, config watches) end
// instead of holding memory forever.
var keepaliveServer = keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}

// Service is one service's gRPC server, listening, with its observability.
type Service struct {
	*obs.Obs
	Server    *grpc.Server
	Transport *mtls.Transport
	Tracing   *tracing.Tracing
	// Authorizer checks the calls of Server (nil with -plaintext); a service
	// serving calls some other way (the console's browsers) checks them with it.
	Authorizer *auth.Authorizer
	lis        net.Listener
	name       string
	flags      *Flags
	registry   *clientv3.Client // with -registry
}

// New sets up the service called name: obs, its certificates, the listener, and
// a gRPC server over mutual TLS with the obs, auth and colouring interceptors
// and the health service. serverOpts add to the server's options (a larger
// grpc.MaxRecvMsgSize, say).
func New(name string, f *Flags, stdout io.Writer, serverOpts ...grpc.ServerOption) (*Service, error) {
	o, err := obs.New(obs.Options{Service: name, AdminAddr: f.Admin, Pprof: f.Pprof, Out: stdout, Grace: f.Grace})
	if err != nil {
		return nil, err
	}
	transport, err := f.TLS.Load(name, f.Listen, o.Log)
	if err != nil {
		return nil, err
	}
	traces, err := f.Trace.Start(context.Background(), name, f.version, transport.ClientCredentials())
	if err != nil {
		return nil, err
	}
	unary := []grpc.UnaryServerInterceptor{coloring.UnaryServerInterceptor(), versionHeader(f.version)}
	stream := []grpc.StreamServerInterceptor{coloring.StreamServerInterceptor()}
	var authz *auth.Authorizer
	if !transport.Plaintext {
		var tokenKey string
		if transport.DevPKI != "" {
			tokenKey = transport.DevPKI.TokenPublicFile()
		}
		verifier, err := f.Token.Verifier(tokenKey)
		if err != nil {
			return nil, err
		}
		if verifier == nil {
			o.Log.Warn("no -token_key: calls from users are refused, only services may call")
		}
		authz = auth.NewAuthorizer(verifier, o.Log, o.Registry)
		unary = append([]grpc.UnaryServerInterceptor{authz.UnaryServerInterceptor()}, unary...)
		stream = append([]grpc.StreamServerInterceptor{authz.StreamServerInterceptor()}, stream...)
	}
	lis, err := net.Listen("tcp", f.Listen)
	if err != nil {
		return nil, err
	}
	opts := append(o.ServerOptions(unary, stream),
		grpc.Creds(transport.ServerCredentials()),
		tracing.ServerOption(),
		grpc.KeepaliveEnforcementPolicy(KeepaliveEnforcement),
		grpc.KeepaliveParams(keepaliveServer),
	)
	srv := grpc.NewServer(append(opts, serverOpts...)...)
	o.RegisterHealth(srv)
	// Reflection: grpcurl, grpcui, ghz and Postman list and call the service's
	// methods with no .proto at hand (for known callers: libs/auth).
	reflection.Register(srv)
	s := &Service{Obs: o, Server: srv, Transport: transport, Tracing: traces, Authorizer: authz, lis: lis, name: name, flags: f}
	if f.Registry != "" {
		if s.registry, err = clientv3.New(clientv3.Config{Endpoints: strings.Split(f.Registry, ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop()}); err != nil {
			return nil, fmt.Errorf("-registry: %w", err)
		}
	}
	return s, nil
}

// VersionHeader is the response header in which every service's health check
// (grpc.health.v1.Health/Check) gives the service's version: what the console's
// status shows of each backend.
const VersionHeader = "monoreel-version"

// versionHeader adds VersionHeader to the health check's response.
func versionHeader(version string) grpc.UnaryServerInterceptor {
	if version == "" {
		version = "unknown" // ShowVersion was not called
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod == "/grpc.health.v1.Health/Check" {
			_ = grpc.SetHeader(ctx, metadata.Pairs(VersionHeader, version))
		}
		return handler(ctx, req)
	}
}

// Dial makes a client of another service at target, which authenticates with
// this service's certificate and times its calls (obs.DialOptions). It is a
// grpcclient.Dialer.
func (s *Service) Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	defaults := append(s.DialOptions(), tracing.DialOption())
	if s.registry != nil {
		defaults = append(defaults, grpc.WithResolvers(discovery.NewResolver(s.registry)))
	}
	return grpcclient.Dial(target, s.Transport.ClientCredentials(), append(defaults, opts...)...)
}

// register puts this instance in discovery, at -advertise or the listener's
// address (a wildcard host becomes the host's name).
func (s *Service) register(ctx context.Context) (*discovery.Registration, error) {
	addr := s.flags.Advertise
	if addr == "" {
		host, port, err := net.SplitHostPort(s.lis.Addr().String())
		if err != nil {
			return nil, err
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			if host, err = os.Hostname(); err != nil {
				return nil, fmt.Errorf("no -advertise and no host name: %w", err)
			}
		}
		addr = net.JoinHostPort(host, port)
	}
	in := discovery.Instance{Addr: addr, Region: s.flags.Region, Version: s.flags.version, ShadowCapable: s.flags.ShadowCapable}
	reg, err := discovery.Register(ctx, s.registry, s.name, in, s.flags.RegistryTTL)
	if err != nil {
		return nil, err
	}
	s.Log.Info("registered in discovery", "addr", addr, "region", in.Region)
	return reg, nil
}

// SampleRatioKey is the config center key whose value (a number, 0..1)
// overrides -trace_sample_ratio while the service runs.
const SampleRatioKey = "tracing/sample_ratio"

// FollowSampling applies the config center's SampleRatioKey to the share of
// traces sampled, until ctx ends; a bad value is logged and ignored.
func (s *Service) FollowSampling(ctx context.Context, cfg *config.Client) {
	cfg.Follow(ctx, SampleRatioKey, func(e config.Event) {
		if e.Type != config.Put || e.KV.Key != SampleRatioKey {
			return
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(string(e.KV.Value)), 64)
		if err == nil {
			err = s.Tracing.Sampler().SetRatio(r)
		}
		if err != nil {
			s.Log.Error("keeping the trace sample ratio: the config center's is invalid", "key", SampleRatioKey, "value", string(e.KV.Value), "error", err)
			return
		}
		s.Log.Info("trace sample ratio changed", "ratio", r)
	})
}

// Run serves until ctx ends or the process gets SIGTERM or SIGINT, then lets
// in-flight calls finish (libs/obs). ready, if set, gets the gRPC address once the
// service accepts calls.
func (s *Service) Run(ctx context.Context, ready func(net.Addr)) error {
	if s.registry != nil {
		defer s.registry.Close()
		reg, err := s.register(ctx)
		if err != nil {
			return err
		}
		s.Obs.BeforeDrain = func() {
			leave, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := reg.Deregister(leave); err != nil {
				s.Log.Warn("leaving discovery; the lease expires by itself", "error", err)
			}
		}
	}
	err := s.Obs.Run(ctx, s.Server, s.lis, func(net.Addr) {
		if ready != nil {
			ready(s.lis.Addr())
		}
	})
	// The spans of the last calls are still queued: export them.
	flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if terr := s.Tracing.Shutdown(flush); terr != nil {
		s.Log.Warn("tracing shutdown", "error", terr)
	}
	return err
}
