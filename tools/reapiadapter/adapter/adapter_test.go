package adapter

import (
	"context"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/bazelbuild/remote-apis/build/bazel/semver"
	"github.com/monoreel/monoreel/libs/testproc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func v(major, minor int32) *semver.SemVer { return &semver.SemVer{Major: major, Minor: minor} }

// casdCapabilities is what buildbox-casd 1.4.16 answers, in substance.
func casdCapabilities() *repb.ServerCapabilities {
	return &repb.ServerCapabilities{
		CacheCapabilities: &repb.CacheCapabilities{
			DigestFunctions:               []repb.DigestFunction_Value{repb.DigestFunction_SHA256},
			ActionCacheUpdateCapabilities: &repb.ActionCacheUpdateCapabilities{UpdateEnabled: true},
			MaxBatchTotalSizeBytes:        4 << 20,
			SupportedCompressors:          []repb.Compressor_Value{repb.Compressor_ZSTD},
		},
		LowApiVersion:  v(2, 1),
		HighApiVersion: v(2, 12),
	}
}

func TestWiden(t *testing.T) {
	for _, tc := range []struct {
		name          string
		in            *repb.ServerCapabilities
		want          *repb.ServerCapabilities
		wantUnchanged bool
	}{
		{"casd: 2.1 to 2.12 becomes 2.0 to 2.12, the rest kept", casdCapabilities(),
			func() *repb.ServerCapabilities { c := casdCapabilities(); c.LowApiVersion = v(2, 0); return c }(), false},
		{"deprecated later than 2.0 lowered too",
			&repb.ServerCapabilities{DeprecatedApiVersion: v(2, 1), LowApiVersion: v(2, 3), HighApiVersion: v(2, 11)},
			&repb.ServerCapabilities{DeprecatedApiVersion: v(2, 0), LowApiVersion: v(2, 0), HighApiVersion: v(2, 11)}, false},
		{"already 2.0", &repb.ServerCapabilities{LowApiVersion: v(2, 0), HighApiVersion: v(2, 3)}, nil, true},
		{"deprecated 2.0, low later: Bazel would only warn; low lowered",
			&repb.ServerCapabilities{DeprecatedApiVersion: v(2, 0), LowApiVersion: v(2, 2), HighApiVersion: v(2, 3)},
			&repb.ServerCapabilities{DeprecatedApiVersion: v(2, 0), LowApiVersion: v(2, 0), HighApiVersion: v(2, 3)}, false},
		{"no versions at all (a 2.0-era server): nothing to widen", &repb.ServerCapabilities{}, nil, true},
		{"a patch release counts", &repb.ServerCapabilities{LowApiVersion: &semver.SemVer{Major: 2, Patch: 1}, HighApiVersion: v(2, 1)},
			&repb.ServerCapabilities{LowApiVersion: v(2, 0), HighApiVersion: v(2, 1)}, false},
		{"a prerelease is earlier than 2.0", &repb.ServerCapabilities{LowApiVersion: &semver.SemVer{Prerelease: "2.0-rc1"}, HighApiVersion: v(2, 1)}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := proto.Clone(tc.in).(*repb.ServerCapabilities)
			changed := Widen(tc.in)
			if tc.wantUnchanged {
				if changed || !proto.Equal(tc.in, before) {
					t.Errorf("Widen changed %v into %v", before, tc.in)
				}
				return
			}
			if !changed || !proto.Equal(tc.in, tc.want) {
				t.Errorf("Widen(%v) = %v (changed %v), want %v", before, tc.in, changed, tc.want)
			}
		})
	}
}

// fakeBackend answers GetCapabilities with casd's capabilities plus a field no
// version of the protos has, and echoes the caller's metadata in a header.
type fakeBackend struct {
	repb.UnimplementedCapabilitiesServer
	repb.UnimplementedActionCacheServer
}

const unknownField = 999

func (fakeBackend) GetCapabilities(ctx context.Context, req *repb.GetCapabilitiesRequest) (*repb.ServerCapabilities, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	grpc.SetHeader(ctx, metadata.Pairs("echo-instance", req.InstanceName, "echo-auth", firstOf(md["authorization"])))
	c := casdCapabilities()
	c.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, unknownField, protowire.VarintType), 42))
	return c, nil
}

func (fakeBackend) GetActionResult(ctx context.Context, req *repb.GetActionResultRequest) (*repb.ActionResult, error) {
	return nil, status.Errorf(codes.NotFound, "no action result for %s", req.GetActionDigest().GetHash())
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// serve starts the adapter (with o) in front of backend on loopback and returns
// a connection to it.
func serve(t *testing.T, backend grpc.ClientConnInterface, o Options) *grpc.ClientConn {
	t.Helper()
	return testproc.ServeGRPC(t, func(*grpc.Server) {}, ServerOptions(backend, o)...)
}

// TestProxy runs the adapter against an in-process backend: capabilities are
// widened with the rest kept (unknown fields too), metadata goes through both
// ways, and the backend's errors come back as they were.
func TestProxy(t *testing.T) {
	backend := testproc.ServeGRPC(t, func(s *grpc.Server) {
		repb.RegisterCapabilitiesServer(s, fakeBackend{})
		repb.RegisterActionCacheServer(s, fakeBackend{})
	})
	conn := serve(t, backend, Options{})

	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer token")
	var header metadata.MD
	caps, err := repb.NewCapabilitiesClient(conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{InstanceName: "main"}, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	want := casdCapabilities()
	want.LowApiVersion = v(2, 0)
	unknown := caps.ProtoReflect().GetUnknown()
	caps.ProtoReflect().SetUnknown(nil)
	if !proto.Equal(caps, want) {
		t.Errorf("capabilities through the adapter = %v, want %v", caps, want)
	}
	if num, _, n := protowire.ConsumeTag(unknown); n < 0 || num != unknownField {
		t.Errorf("the backend's unknown field %d was not passed on (unknown bytes %x)", unknownField, unknown)
	}
	if got := firstOf(header["echo-instance"]); got != "main" {
		t.Errorf("the backend saw instance %q, want main", got)
	}
	if got := firstOf(header["echo-auth"]); got != "Bearer token" {
		t.Errorf("the backend saw authorization %q, want the caller's", got)
	}

	_, err = repb.NewActionCacheClient(conn).GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: &repb.Digest{Hash: "abc", SizeBytes: 1}})
	if status.Code(err) != codes.NotFound || status.Convert(err).Message() != "no action result for abc" {
		t.Errorf("GetActionResult through the adapter: %v, want the backend's NotFound", err)
	}
	// A streaming call the backend does not serve: its Unimplemented comes back.
	stream, err := repb.NewExecutionClient(conn).Execute(ctx, &repb.ExecuteRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("Execute through the adapter: %v, want the backend's Unimplemented", err)
	}
}
