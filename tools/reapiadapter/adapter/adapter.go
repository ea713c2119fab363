// Package adapter puts a REAPI server that Bazel < 9 refuses in front of Bazel
// anyway: it is a transparent gRPC proxy to the server (the backend) that changes
// the range of API versions the backend advertises, and, for buildbox-casd, adds
// the blobs casd wants beside an action result's output directories.
//
// # Why
//
// Bazel 7 and 8 speak the Remote Execution API v2.0 only (their ApiVersion's low
// and high are both 2.0) and refuse a server whose low_api_version is later:
// buildbox-casd 1.4.16 (Debian's buildbox) advertises 2.1 to 2.12, so Bazel 7.7.1
// says "The client supported API versions, 2.0 to 2.0, is not supported by the
// server, 2.1 to 2.12" and builds without the cache. Bazel checks
// max(2.0, server low) <= min(2.0, server high); the adapter answers
// build.bazel.remote.execution.v2.Capabilities/GetCapabilities by asking the
// backend and lowering low_api_version (and deprecated_api_version, when set) to
// 2.0, keeping everything else the backend says (digest functions, batch limits,
// compressors, the action cache's update capability, execution capabilities and
// any field newer than this package's protos). Every other call is forwarded
// unchanged, both ways, streams and metadata included, as bytes: the adapter
// decodes nothing but the capabilities.
//
// One more thing, for casd: before an UpdateActionResult goes through, the
// adapter makes sure every Directory of each output directory's Tree is in the
// backend's CAS. REAPI stores an output directory as one Tree blob (the root
// Directory and all its descendants, in one message), and Bazel uploads that
// blob and the files; casd 1.4.16 also requires each Directory of the Tree as a
// blob of its own, and answers GetActionResult of an entry without them with
// NOT_FOUND ("ActionResult's output files not found in CAS", its log: "ActionResult
// missing N digests") and drops it. Bazel 7 against casd without this missed every
// action with a directory output (rules_go's GoStdlib: 2 of 261 actions of
// //libs/snowflake/...). The adapter reads the Tree back from the backend,
// uploads the Directory blobs it lacks (SHA-256, what Bazel and casd use by
// default; other digest functions are left alone), then forwards the request
// unchanged. This is casd's strictness, not a version matter: a client that
// skips the adapter loses those hits unless it uploads the Directory blobs itself
// (Bazel 7 does not; Bazel 9 was not checked).
//
// The version widening is needed only for Bazel < 9: Bazel 9 accepts servers up
// to v2.11 (bazelbuild/bazel PR 27493), and can talk to casd directly.
//
// # Why lying about 2.0 is safe for what Bazel sends
//
// REAPI v2's minor versions are backward compatible on the wire by rule: fields
// and methods are only added (none renumbered, retyped or removed before v2.13),
// so a 2.x server parses a 2.0 client's messages and the client skips the fields
// it does not know. What changed between 2.0 and 2.12 touches a cache client as
// follows:
//
//   - v2.1 added Command.output_paths, superseding output_files and
//     output_directories; servers keep honouring the old fields, and a cache only
//     stores an ActionResult for the action's digest, it does not read the
//     Command. Bazel 7 fills the old fields (and, for the ActionResult, also
//     output_symlinks).
//   - v2.2 moved the platform onto Action (Command.platform deprecated) and added
//     node properties (mtime, mode) to output files: optional for both sides.
//   - v2.3 added digest_function to every request (absent means the digest
//     function inferred from the hash length, SHA-256 here, which Bazel uses by
//     default and casd serves by default) and new ExecutedActionMetadata fields.
//   - Compressed ByteStream resource names (compressed-blobs/zstd/...) exist
//     since v2.2 and are used only if the client asks for them
//     (--experimental_remote_cache_compression), after seeing the compressor in
//     the capabilities, which the adapter passes through.
//   - Later versions add RPCs (SplitBlob, SpliceBlob, GetChunkMapping) and
//     capabilities that a 2.0 client never calls or reads.
//
// So every message a Bazel 7 cache client sends is a valid 2.x message with the
// meaning 2.0 gives it.
//
// # Remote execution
//
// Execute and WaitExecution (build.bazel.remote.execution.v2.Execution) and
// google.longrunning.Operations are forwarded like every other call, and the
// execution capabilities pass through GetCapabilities. Checked with casd 1.4.16
// and buildbox-run-bubblewrap (execute_test.go, tools/buildperf/remoteexec):
// casd reads a Command's outputs from output_paths (2.1) only; a 2.0-only
// Command (output_files and output_directories) runs but gets none of its
// outputs back. Bazel 7.7.1 fills all three fields (and an empty
// Command.platform), so its actions work; a strict 2.0 client would not.
//
// One thing does not work as is: buildbox-run-bubblewrap binds an action's
// input root at / and runs it there. rules_go compiles with -trimpath=$PWD, and
// with $PWD=/ nothing is trimmed, so the outputs hold /libs/... where a local
// build has libs/...: they differ from a local build's, byte for byte. With
// Options.ActionDir the adapter moves each action it executes one directory
// down (MoveDown): it stores a root Directory holding the action's input root
// as that directory, the Command with working_directory set to it, and an
// Action naming both, and executes that Action. REAPI output paths are relative
// to the working directory, so the result is the one the client's action would
// have had. The moved Action has a digest of its own, which the backend caches
// the result under; the adapter stores a successful result under the client's
// action digest as well (Bazel asks GetActionResult for its own digest before
// it executes, and a --config=remote-cache build asks the same), and rewrites
// each Operation's ExecuteOperationMetadata to name the client's action. An
// executor that runs actions in a build directory of its own (Buildbarn,
// BuildBuddy) needs none of this.
package adapter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/bazelbuild/remote-apis/build/bazel/semver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The calls the adapter looks into: it answers GetCapabilities itself, and
// completes the Trees of an UpdateActionResult in the backend's CAS before
// forwarding it.
const (
	CapabilitiesMethod       = "/build.bazel.remote.execution.v2.Capabilities/GetCapabilities"
	UpdateActionResultMethod = "/build.bazel.remote.execution.v2.ActionCache/UpdateActionResult"
)

// ClientAPIVersion is the REAPI version Bazel 7 and 8 speak (low and high).
func ClientAPIVersion() *semver.SemVer { return &semver.SemVer{Major: 2} }

// Widen lowers the capabilities' low_api_version, and deprecated_api_version
// when the backend set one, to 2.0 when they are later, and leaves everything
// else as it is. It reports whether it changed anything.
func Widen(c *repb.ServerCapabilities) bool {
	changed := false
	if c.LowApiVersion != nil && later(c.LowApiVersion, ClientAPIVersion()) {
		c.LowApiVersion = ClientAPIVersion()
		changed = true
	}
	if c.DeprecatedApiVersion != nil && later(c.DeprecatedApiVersion, ClientAPIVersion()) {
		c.DeprecatedApiVersion = ClientAPIVersion()
		changed = true
	}
	return changed
}

// later reports whether a is a later version than b, ordered as Bazel orders
// them (a prerelease comes before every release).
func later(a, b *semver.SemVer) bool {
	if (a.GetPrerelease() == "") != (b.GetPrerelease() == "") {
		return a.GetPrerelease() == ""
	}
	if a.GetPrerelease() != "" {
		return a.GetPrerelease() > b.GetPrerelease()
	}
	if a.GetMajor() != b.GetMajor() {
		return a.GetMajor() > b.GetMajor()
	}
	if a.GetMinor() != b.GetMinor() {
		return a.GetMinor() > b.GetMinor()
	}
	return a.GetPatch() > b.GetPatch()
}

// Options are what the adapter changes beyond the API versions and Trees.
type Options struct {
	// ActionDir, when set, moves every action it executes one directory down
	// its input root, into a directory of that name, and runs it there
	// (MoveDown): for an executor that runs actions at the root of their
	// sandbox, as buildbox-run-bubblewrap does (see the package comment).
	ActionDir string
}

// NewServer returns a gRPC server that forwards every call to backend, answering
// GetCapabilities with the backend's capabilities widened (Widen). opts are added
// to the server's (credentials, interceptors); ServerOptions are the adapter's.
func NewServer(backend grpc.ClientConnInterface, o Options, opts ...grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, ServerOptions(backend, o)...)...)
}

// ServerOptions make a gRPC server the adapter: they set its codec and its
// unknown-service handler, which forwards every call to backend. Such a server
// needs no service registered: every call reaches the handler as bytes.
func ServerOptions(backend grpc.ClientConnInterface, o Options) []grpc.ServerOption {
	p := &proxy{backend: backend}
	if o.ActionDir != "" {
		p.mover = &mover{dir: o.ActionDir, now: time.Now, moved: map[string]rememberedAction{}}
	}
	return []grpc.ServerOption{grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(p.handle)}
}

type proxy struct {
	backend grpc.ClientConnInterface
	mover   *mover // nil: Execution calls pass unchanged
}

// bothWays describes every forwarded call: a stream each way covers unary,
// client-, server- and bidirectional streaming alike.
var bothWays = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

func (p *proxy) handle(_ any, in grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(in)
	if !ok {
		return status.Error(codes.Internal, "adapter: no method name on the stream")
	}
	// The caller's deadline and cancellation go with the context; its metadata
	// (headers such as authorization or x-buildbuddy-api-key, Bazel's
	// build.bazel.remote.execution.v2.requestmetadata-bin) is copied, less the
	// HTTP/2 pseudo-headers, which the client transport writes itself.
	ctx, cancel := context.WithCancel(in.Context())
	defer cancel()
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{}
	for k, v := range md {
		if !strings.HasPrefix(k, ":") {
			out[k] = v
		}
	}
	ctx = metadata.NewOutgoingContext(ctx, out)
	switch method {
	case CapabilitiesMethod:
		return p.capabilities(ctx, in)
	case UpdateActionResultMethod:
		return p.updateActionResult(ctx, in)
	case ExecuteMethod:
		if p.mover != nil {
			return p.execute(ctx, in)
		}
	case WaitExecutionMethod:
		if p.mover != nil {
			return p.waitExecution(ctx, in)
		}
	}
	return p.forward(ctx, cancel, method, in)
}

// forward copies the call to the backend and the backend's answer back: request
// messages one way; the backend's headers, responses, trailers and status the
// other.
func (p *proxy) forward(ctx context.Context, cancel context.CancelFunc, method string, in grpc.ServerStream) error {
	out, err := p.backend.NewStream(ctx, bothWays, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	up := make(chan error, 1)
	go func() {
		for {
			f := &frame{}
			if err := in.RecvMsg(f); err != nil {
				up <- err // io.EOF: the client has sent everything
				return
			}
			if err := out.SendMsg(f); err != nil {
				// io.EOF: the backend ended the call; its status comes from RecvMsg.
				up <- err
				return
			}
		}
	}()
	down := make(chan error, 1)
	go func() {
		header, err := out.Header()
		if err == nil {
			err = in.SendHeader(header)
		}
		for err == nil {
			f := &frame{}
			if err = out.RecvMsg(f); err == nil {
				err = in.SendMsg(f)
			}
		}
		down <- err
	}()
	for {
		select {
		case err := <-up:
			if !errors.Is(err, io.EOF) {
				cancel() // the client is gone: end the backend's call too
				return err
			}
			out.CloseSend()
			up = nil // wait for the backend's answer
		case err := <-down:
			in.SetTrailer(out.Trailer())
			if errors.Is(err, io.EOF) {
				return nil // the backend's OK
			}
			return err // the backend's status: code, message and details
		}
	}
}

// capabilities forwards GetCapabilities and widens the answer.
func (p *proxy) capabilities(ctx context.Context, in grpc.ServerStream) error {
	req := &frame{}
	if err := in.RecvMsg(req); err != nil {
		return err
	}
	return p.unary(ctx, in, CapabilitiesMethod, req, func(resp *frame) error {
		caps := &repb.ServerCapabilities{}
		// Fields this package's protos do not know are kept as unknown fields and
		// written back as they came.
		if err := proto.Unmarshal(resp.data, caps); err != nil {
			return status.Errorf(codes.Internal, "adapter: the backend's capabilities do not parse: %v", err)
		}
		Widen(caps)
		data, err := proto.Marshal(caps)
		if err != nil {
			return status.Errorf(codes.Internal, "adapter: %v", err)
		}
		resp.data = data
		return nil
	})
}

// updateActionResult stores the Directory blobs of the result's Trees in the
// backend, then forwards the request as it came.
func (p *proxy) updateActionResult(ctx context.Context, in grpc.ServerStream) error {
	update := &repb.UpdateActionResultRequest{}
	req, err := receive(in, update, "UpdateActionResult")
	if err != nil {
		return err
	}
	if err := p.storeTreeDirectories(ctx, update); err != nil {
		return err
	}
	return p.unary(ctx, in, UpdateActionResultMethod, req, nil)
}

// storeTreeDirectories uploads to the backend each Directory of the Trees of
// the result's output directories that the backend lacks.
func (p *proxy) storeTreeDirectories(ctx context.Context, update *repb.UpdateActionResultRequest) error {
	fn := update.GetDigestFunction()
	if fn != repb.DigestFunction_UNKNOWN && fn != repb.DigestFunction_SHA256 {
		return nil
	}
	var trees []*repb.Digest
	for _, dir := range update.GetActionResult().GetOutputDirectories() {
		if d := dir.GetTreeDigest(); d != nil && d.SizeBytes > 0 {
			trees = append(trees, d)
		}
	}
	if len(trees) == 0 {
		return nil
	}
	cas := casClient{repb.NewContentAddressableStorageClient(p.backend), update.GetInstanceName(), fn}
	read, err := cas.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{InstanceName: cas.instance, Digests: trees, DigestFunction: fn})
	if err != nil {
		return fmt.Errorf("adapter: reading the result's Trees back: %w", err)
	}
	blobs := map[string][]byte{}
	var digests []*repb.Digest
	for _, r := range read.GetResponses() {
		if c := r.GetStatus().GetCode(); c != int32(codes.OK) {
			return status.Errorf(codes.FailedPrecondition, "adapter: the result's Tree %s/%d is not in the CAS: %s",
				r.GetDigest().GetHash(), r.GetDigest().GetSizeBytes(), r.GetStatus().GetMessage())
		}
		tree := &repb.Tree{}
		if err := proto.Unmarshal(r.Data, tree); err != nil {
			return status.Errorf(codes.InvalidArgument, "adapter: Tree %s does not parse: %v", r.GetDigest().GetHash(), err)
		}
		for _, dir := range append([]*repb.Directory{tree.Root}, tree.Children...) {
			// Deterministic: the bytes (so the digest) casd computes for the same
			// Directory, fields in number order.
			data, err := proto.MarshalOptions{Deterministic: true}.Marshal(dir)
			if err != nil {
				return status.Errorf(codes.Internal, "adapter: %v", err)
			}
			d := sha256Digest(data)
			if _, seen := blobs[d.Hash]; !seen {
				blobs[d.Hash] = data
				digests = append(digests, d)
			}
		}
	}
	return cas.storeMissing(ctx, digests, blobs)
}

// receive reads the request of a unary or server-streaming call into m, and
// returns it as it came too; what names the call in the error.
func receive(in grpc.ServerStream, m proto.Message, what string) (*frame, error) {
	req := &frame{}
	if err := in.RecvMsg(req); err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(req.data, m); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "adapter: %s does not parse: %v", what, err)
	}
	return req, nil
}

// unary forwards a unary call whose request the adapter has read, and sends the
// backend's answer back, first passed through edit if set.
func (p *proxy) unary(ctx context.Context, in grpc.ServerStream, method string, req *frame, edit func(*frame) error) error {
	resp := &frame{}
	var header, trailer metadata.MD
	err := p.backend.Invoke(ctx, method, req, resp, grpc.ForceCodec(rawCodec{}), grpc.Header(&header), grpc.Trailer(&trailer))
	in.SetTrailer(trailer)
	if err != nil {
		return err
	}
	if edit != nil {
		if err := edit(resp); err != nil {
			return err
		}
	}
	if err := in.SendHeader(header); err != nil {
		return err
	}
	return in.SendMsg(resp)
}

// frame is one message as bytes on the wire.
type frame struct{ data []byte }

// rawCodec passes frames through as they are. It is named "proto" so that
// both sides see the content type they expect (application/grpc+proto).
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *frame:
		return m.data, nil
	case proto.Message:
		return proto.Marshal(m)
	}
	return nil, fmt.Errorf("adapter: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case *frame:
		// grpc reuses data's buffer once Unmarshal returns.
		m.data = append([]byte(nil), data...)
		return nil
	case proto.Message:
		return proto.Unmarshal(data, m)
	}
	return fmt.Errorf("adapter: cannot unmarshal into %T", v)
}
