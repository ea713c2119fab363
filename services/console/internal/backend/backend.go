// Package backend is what the console knows of the services behind it: which
// APIs each serves, where it is (-<service>_addr), and how it is (Status: a
// health check now, with the version the service gives with it).
package backend

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/monoreel/monoreel/libs/grpcclient"
	"github.com/monoreel/monoreel/libs/service"
	aitagv1 "github.com/monoreel/monoreel/proto/aitag/v1"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	configv1 "github.com/monoreel/monoreel/proto/config/v1"
	consolev1 "github.com/monoreel/monoreel/proto/console/v1"
	danmakuv1 "github.com/monoreel/monoreel/proto/danmaku/v1"
	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
	orchestratorv1 "github.com/monoreel/monoreel/proto/orchestrator/v1"
	transcodev1 "github.com/monoreel/monoreel/proto/transcode/v1"
	uploadv1 "github.com/monoreel/monoreel/proto/upload/v1"
)

// Kind is a service the console can forward to.
type Kind struct {
	Name string // the service's, as services/services.bzl and its certificate name it
	Port int    // its default gRPC port
	APIs []protoreflect.ServiceDescriptor
}

func api(fd protoreflect.FileDescriptor, name protoreflect.Name) protoreflect.ServiceDescriptor {
	return fd.Services().ByName(name)
}

// Kinds are the platform's services, in start order (services/services.bzl).
var Kinds = []Kind{
	{"config", 9100, []protoreflect.ServiceDescriptor{api(configv1.File_proto_config_v1_config_proto, "ConfigService")}},
	{"idgen", 9090, []protoreflect.ServiceDescriptor{api(idgenv1.File_proto_idgen_v1_idgen_proto, "IDGenService")}},
	{"upload", 9300, []protoreflect.ServiceDescriptor{api(uploadv1.File_proto_upload_v1_upload_proto, "UploadService")}},
	{"transcode", 9500, []protoreflect.ServiceDescriptor{api(transcodev1.File_proto_transcode_v1_transcode_proto, "TranscodeService")}},
	{"aitag", 9600, []protoreflect.ServiceDescriptor{api(aitagv1.File_proto_aitag_v1_aitag_proto, "AITagService")}},
	{"cdnpush", 9400, []protoreflect.ServiceDescriptor{api(cdnpushv1.File_proto_cdnpush_v1_cdnpush_proto, "CDNPushService")}},
	{"orchestrator", 9700, []protoreflect.ServiceDescriptor{api(orchestratorv1.File_proto_orchestrator_v1_orchestrator_proto, "OrchestratorService")}},
	{"danmaku", 9200, []protoreflect.ServiceDescriptor{api(danmakuv1.File_proto_danmaku_v1_danmaku_proto, "DanmakuService")}},
}

// Flags are the -<service>_addr flags, one for each of Kinds.
type Flags map[string]*string

// AddFlags registers -<service>_addr for each of Kinds on fs, each by default
// the service's own default port on loopback (where `bazel run` starts it).
func AddFlags(fs *flag.FlagSet) Flags {
	f := Flags{}
	for _, k := range Kinds {
		f[k.Name] = fs.String(k.Name+"_addr", fmt.Sprintf("127.0.0.1:%d", k.Port),
			fmt.Sprintf("the %s service (host:port, or etcd:///%s with -registry); empty: not served by the console", k.Name, k.Name))
	}
	return f
}

// Backend is one service the console forwards to.
type Backend struct {
	Kind
	Addr string
	Conn *grpc.ClientConn
}

// Dial makes a client of every service with an address, with dial (the
// console's: its certificate).
func (f Flags) Dial(dial grpcclient.Dialer) ([]*Backend, error) {
	var backends []*Backend
	for _, k := range Kinds {
		addr := *f[k.Name]
		if addr == "" {
			continue
		}
		conn, err := dial(addr)
		if err != nil {
			Close(backends)
			return nil, fmt.Errorf("-%s_addr: %w", k.Name, err)
		}
		backends = append(backends, &Backend{Kind: k, Addr: addr, Conn: conn})
	}
	return backends, nil
}

// Close closes the backends' connections.
func Close(backends []*Backend) {
	for _, b := range backends {
		b.Conn.Close()
	}
}

// CheckTimeout is how long Status waits for a backend's health.
const CheckTimeout = 3 * time.Second

// Status implements consolev1.ConsoleServiceServer.
type Status struct {
	consolev1.UnimplementedConsoleServiceServer
	Backends []*Backend
	Version  string // the console's
}

// Status checks every backend at once.
func (s *Status) Status(ctx context.Context, _ *consolev1.StatusRequest) (*consolev1.StatusResponse, error) {
	resp := &consolev1.StatusResponse{Version: s.Version, Backends: make([]*consolev1.Backend, len(s.Backends))}
	var wg sync.WaitGroup
	for i, b := range s.Backends {
		wg.Go(func() { resp.Backends[i] = b.check(ctx) })
	}
	wg.Wait()
	return resp, nil
}

// check asks b's health, with the version the service gives with it.
func (b *Backend) check(ctx context.Context) *consolev1.Backend {
	out := &consolev1.Backend{Name: b.Name, Address: b.Addr}
	for _, a := range b.APIs {
		out.Apis = append(out.Apis, string(a.FullName()))
	}
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	start := time.Now()
	var header metadata.MD
	resp, err := healthpb.NewHealthClient(b.Conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header))
	out.Latency = durationpb.New(time.Since(start))
	if v := header.Get(service.VersionHeader); len(v) > 0 {
		out.Version = v[0]
	}
	switch {
	case status.Code(err) == codes.DeadlineExceeded || status.Code(err) == codes.Unavailable:
		out.Health, out.Error = consolev1.Health_HEALTH_UNREACHABLE, err.Error()
	case err != nil:
		out.Health, out.Error = consolev1.Health_HEALTH_NOT_SERVING, err.Error()
	case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
		out.Health, out.Error = consolev1.Health_HEALTH_NOT_SERVING, "health: "+resp.GetStatus().String()
	default:
		out.Health = consolev1.Health_HEALTH_SERVING
	}
	return out
}
