package adapter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// The Execution calls the adapter looks into when it moves actions down
// (Options.ActionDir).
const (
	ExecuteMethod       = "/build.bazel.remote.execution.v2.Execution/Execute"
	WaitExecutionMethod = "/build.bazel.remote.execution.v2.Execution/WaitExecution"
)

// movedAction is what the adapter remembers of an action it moved down, from
// Execute until its operation is done: the client's own action, to name in
// what goes back and to store the result under.
type movedAction struct {
	original, moved *repb.Digest
	instance        string
	digestFunction  repb.DigestFunction_Value
	cacheable       bool
}

// mover moves actions one directory down their input root and keeps track of
// them by the name of their operation (casd's last Operation carries no
// metadata, so the operation's name is what ties it to the action).
type mover struct {
	dir   string
	now   func() time.Time // time.Now; a test's clock
	mu    sync.Mutex
	moved map[string]rememberedAction // by operation name, until it is done
}

// rememberedAction is the moved action of an operation that is not done, and
// when the backend last said so.
type rememberedAction struct {
	action *movedAction
	seen   time.Time
}

// abandonAfter is how long the adapter remembers an operation that is not done
// once no call streams it any more: a client gone for good never asks
// WaitExecution for it, and without a limit it would stay in memory forever.
// A client that comes back later still gets the operation; only the name of
// the action in its metadata is then the moved one.
const abandonAfter = time.Hour

// remember notes (or forgets, once done) the moved action of an operation,
// forgetting those abandoned for longer than abandonAfter.
func (m *mover) remember(name string, action *movedAction, done bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if done {
		delete(m.moved, name)
	} else {
		m.moved[name] = rememberedAction{action: action, seen: now}
	}
	for n, r := range m.moved {
		if now.Sub(r.seen) > abandonAfter {
			delete(m.moved, n)
		}
	}
}

// recall returns the moved action of a not-done operation, or nil.
func (m *mover) recall(name string) *movedAction {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.moved[name].action
}

// MoveDown returns the command and input root that run an action the same way
// one directory down: the new input root holds the action's (inputRoot) as dir,
// and the command's working_directory is dir (joined with its own, if it had
// one). Output paths are relative to the working directory in REAPI, so the
// action's outputs, and its ActionResult, are the same.
func MoveDown(dir string, command *repb.Command, inputRoot *repb.Digest) (*repb.Command, *repb.Directory) {
	moved := proto.Clone(command).(*repb.Command)
	moved.WorkingDirectory = path.Join(dir, command.GetWorkingDirectory())
	return moved, &repb.Directory{Directories: []*repb.DirectoryNode{{Name: dir, Digest: inputRoot}}}
}

// execute reads the action of an Execute call, stores it moved down
// (MoveDown) in the backend's CAS, and executes that instead; what comes back
// names the client's action again, and a successful result is also stored
// under the client's action digest, where its next cache lookup asks.
func (p *proxy) execute(ctx context.Context, in grpc.ServerStream) error {
	exec := &repb.ExecuteRequest{}
	req, err := receive(in, exec, "Execute")
	if err != nil {
		return err
	}
	var moved *movedAction
	if fn := exec.GetDigestFunction(); fn == repb.DigestFunction_UNKNOWN || fn == repb.DigestFunction_SHA256 {
		if moved, err = p.moveDown(ctx, exec); err != nil {
			return err
		}
		exec.ActionDigest = moved.moved
		data, err := proto.Marshal(exec)
		if err != nil {
			return status.Errorf(codes.Internal, "adapter: %v", err)
		}
		req.data = data
	}
	return p.operations(ctx, in, ExecuteMethod, req, moved)
}

// waitExecution forwards a WaitExecution call, handling its operations as
// Execute's.
func (p *proxy) waitExecution(ctx context.Context, in grpc.ServerStream) error {
	wait := &repb.WaitExecutionRequest{}
	req, err := receive(in, wait, "WaitExecution")
	if err != nil {
		return err
	}
	return p.operations(ctx, in, WaitExecutionMethod, req, p.mover.recall(wait.GetName()))
}

// operations sends req to the backend and each Operation it streams back to
// the client, restored (restore) first when they are of a moved action.
func (p *proxy) operations(ctx context.Context, in grpc.ServerStream, method string, req *frame, moved *movedAction) error {
	out, err := p.backend.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	if err := out.SendMsg(req); err != nil {
		return err
	}
	if err := out.CloseSend(); err != nil {
		return err
	}
	header, err := out.Header()
	if err != nil {
		return err
	}
	if err := in.SendHeader(header); err != nil {
		return err
	}
	defer func() { in.SetTrailer(out.Trailer()) }()
	for {
		op := &frame{}
		if err := out.RecvMsg(op); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the backend's OK
			}
			return err
		}
		if moved != nil {
			if err := p.restore(ctx, op, moved); err != nil {
				return err
			}
		}
		if err := in.SendMsg(op); err != nil {
			return err
		}
	}
}

// moveDown stores the moved-down action of exec in the backend.
func (p *proxy) moveDown(ctx context.Context, exec *repb.ExecuteRequest) (*movedAction, error) {
	instance, fn := exec.GetInstanceName(), exec.GetDigestFunction()
	cas := casClient{repb.NewContentAddressableStorageClient(p.backend), instance, fn}
	action := &repb.Action{}
	if err := cas.readMessage(ctx, exec.GetActionDigest(), action, "action"); err != nil {
		return nil, err
	}
	command := &repb.Command{}
	if err := cas.readMessage(ctx, action.GetCommandDigest(), command, "command"); err != nil {
		return nil, err
	}
	command, root := MoveDown(p.mover.dir, command, action.GetInputRootDigest())
	blobs := map[string][]byte{}
	var digests []*repb.Digest
	add := func(m proto.Message) (*repb.Digest, error) {
		data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "adapter: %v", err)
		}
		d := sha256Digest(data)
		blobs[d.Hash] = data
		digests = append(digests, d)
		return d, nil
	}
	var err error
	if action.CommandDigest, err = add(command); err != nil {
		return nil, err
	}
	if action.InputRootDigest, err = add(root); err != nil {
		return nil, err
	}
	moved, err := add(action)
	if err != nil {
		return nil, err
	}
	if err := cas.storeMissing(ctx, digests, blobs); err != nil {
		return nil, err
	}
	return &movedAction{original: exec.GetActionDigest(), moved: moved, instance: instance, digestFunction: fn, cacheable: !action.GetDoNotCache()}, nil
}

// restore rewrites an Operation of a moved action the way the client expects
// it: its metadata, when it has some, names the client's action. It remembers
// the action by the operation's name until the operation is done (for
// WaitExecution); done with a successful result, it stores that result under
// the client's action digest too (the backend cached it under the moved one),
// unless the action may not be cached. Failing to store it fails nothing: the
// client gets its result. An Operation that names no moved action goes as it came.
func (p *proxy) restore(ctx context.Context, op *frame, moved *movedAction) error {
	operation := &longrunningpb.Operation{}
	if err := proto.Unmarshal(op.data, operation); err != nil {
		return status.Errorf(codes.Internal, "adapter: the backend's Operation does not parse: %v", err)
	}
	p.mover.remember(operation.GetName(), moved, operation.GetDone())
	if operation.GetMetadata() != nil {
		metadata := &repb.ExecuteOperationMetadata{}
		if err := operation.GetMetadata().UnmarshalTo(metadata); err != nil {
			return status.Errorf(codes.Internal, "adapter: the backend's operation metadata does not parse: %v", err)
		}
		if proto.Equal(metadata.GetActionDigest(), moved.moved) {
			metadata.ActionDigest = moved.original
			var err error
			if operation.Metadata, err = anypb.New(metadata); err != nil {
				return status.Errorf(codes.Internal, "adapter: %v", err)
			}
			data, err := proto.Marshal(operation)
			if err != nil {
				return status.Errorf(codes.Internal, "adapter: %v", err)
			}
			op.data = data // the rest of the Operation goes as the backend sent it
		}
	}
	if response := operation.GetResponse(); response != nil && moved.cacheable {
		executed := &repb.ExecuteResponse{}
		if err := response.UnmarshalTo(executed); err != nil {
			return status.Errorf(codes.Internal, "adapter: the backend's ExecuteResponse does not parse: %v", err)
		}
		if result := executed.GetResult(); executed.GetStatus().GetCode() == int32(codes.OK) && result != nil && result.GetExitCode() == 0 {
			_, err := repb.NewActionCacheClient(p.backend).UpdateActionResult(ctx, &repb.UpdateActionResultRequest{
				InstanceName: moved.instance, ActionDigest: moved.original, ActionResult: result, DigestFunction: moved.digestFunction,
			})
			if err != nil {
				// The action ran and its result is the client's all the same;
				// the next build misses the cache and runs it again.
				slog.Warn("adapter: the result of an executed action is not in the action cache under the client's digest",
					"action", moved.original.GetHash(), "error", err)
			}
		}
	}
	return nil
}

// casClient reads and writes blobs of one instance and digest function.
type casClient struct {
	repb.ContentAddressableStorageClient
	instance string
	fn       repb.DigestFunction_Value
}

// readMessage reads the blob d from the CAS into m; what names the blob in
// errors.
func (c casClient) readMessage(ctx context.Context, d *repb.Digest, m proto.Message, what string) error {
	read, err := c.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{InstanceName: c.instance, Digests: []*repb.Digest{d}, DigestFunction: c.fn})
	if err != nil {
		return fmt.Errorf("adapter: reading the %s %s: %w", what, d.GetHash(), err)
	}
	if len(read.GetResponses()) != 1 {
		return status.Errorf(codes.Internal, "adapter: reading the %s %s: %d responses", what, d.GetHash(), len(read.GetResponses()))
	}
	r := read.GetResponses()[0]
	if code := codes.Code(r.GetStatus().GetCode()); code != codes.OK {
		// The client must upload it: REAPI's answer to a missing input.
		return status.Errorf(codes.FailedPrecondition, "adapter: the %s %s/%d is not in the CAS: %s", what, d.GetHash(), d.GetSizeBytes(), r.GetStatus().GetMessage())
	}
	if err := proto.Unmarshal(r.GetData(), m); err != nil {
		return status.Errorf(codes.InvalidArgument, "adapter: the %s %s does not parse: %v", what, d.GetHash(), err)
	}
	return nil
}

// storeMissing uploads those of digests that the CAS lacks, from blobs (by
// hash), in batches that stay below any server's message limit.
func (c casClient) storeMissing(ctx context.Context, digests []*repb.Digest, blobs map[string][]byte) error {
	missing, err := c.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{InstanceName: c.instance, BlobDigests: digests, DigestFunction: c.fn})
	if err != nil {
		return fmt.Errorf("adapter: looking for blobs to store: %w", err)
	}
	const batchBytes = 1 << 20 // the blobs stored here are small messages
	var batch []*repb.BatchUpdateBlobsRequest_Request
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		resp, err := c.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{InstanceName: c.instance, Requests: batch, DigestFunction: c.fn})
		if err != nil {
			return fmt.Errorf("adapter: storing blobs: %w", err)
		}
		for _, r := range resp.GetResponses() {
			if code := r.GetStatus().GetCode(); code != int32(codes.OK) {
				return status.Errorf(codes.Code(code), "adapter: storing blob %s: %s", r.GetDigest().GetHash(), r.GetStatus().GetMessage())
			}
		}
		batch, size = nil, 0
		return nil
	}
	for _, d := range missing.GetMissingBlobDigests() {
		data, ok := blobs[d.Hash]
		if !ok {
			continue
		}
		if size+len(data) > batchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, &repb.BatchUpdateBlobsRequest_Request{Digest: d, Data: data})
		size += len(data)
	}
	return flush()
}

// sha256Digest is data's REAPI digest with SHA-256.
func sha256Digest(data []byte) *repb.Digest {
	sum := sha256.Sum256(data)
	return &repb.Digest{Hash: hex.EncodeToString(sum[:]), SizeBytes: int64(len(data))}
}
