// Package configgrpc carries libs/config over gRPC (proto/config/v1): NewServer
// serves any config.Store as a ConfigService, and Store is a config.Store backed
// by a ConfigService client, so a config.Client in any service follows the
// config center exactly as it would follow a local store.
package configgrpc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/grpcerr"
	configv1 "github.com/monoreel/monoreel/proto/config/v1"
)

// Limits on what a Put may store: the config center holds rules and flags, not
// blobs.
const (
	MaxKeyBytes   = 512
	MaxValueBytes = 1 << 20
)

type server struct {
	configv1.UnimplementedConfigServiceServer
	store config.Store
}

// NewServer serves store as a ConfigService.
func NewServer(store config.Store) configv1.ConfigServiceServer {
	return &server{store: store}
}

func (s *server) Get(ctx context.Context, req *configv1.GetRequest) (*configv1.GetResponse, error) {
	if err := checkKey(req.GetKey()); err != nil {
		return nil, err
	}
	kv, err := s.store.Get(ctx, req.GetKey())
	if err != nil {
		return nil, storeErrors.ToStatus(err)
	}
	return &configv1.GetResponse{Entry: toEntry(kv)}, nil
}

func (s *server) List(ctx context.Context, req *configv1.ListRequest) (*configv1.ListResponse, error) {
	kvs, rev, err := s.store.List(ctx, req.GetPrefix())
	if err != nil {
		return nil, storeErrors.ToStatus(err)
	}
	resp := &configv1.ListResponse{Revision: rev, Entries: make([]*configv1.Entry, len(kvs))}
	for i, kv := range kvs {
		resp.Entries[i] = toEntry(kv)
	}
	return resp, nil
}

func (s *server) Put(ctx context.Context, req *configv1.PutRequest) (*configv1.PutResponse, error) {
	if err := checkKey(req.GetKey()); err != nil {
		return nil, err
	}
	if err := mayWrite(ctx, req.GetKey()); err != nil {
		return nil, err
	}
	if n := len(req.GetValue()); n > MaxValueBytes {
		return nil, status.Errorf(codes.InvalidArgument, "value of %q is %d bytes, over the limit of %d", req.GetKey(), n, MaxValueBytes)
	}
	var rev int64
	var err error
	if req.ExpectedRevision != nil {
		rev, err = s.store.CompareAndPut(ctx, req.GetKey(), req.GetValue(), req.GetExpectedRevision())
	} else {
		rev, err = s.store.Put(ctx, req.GetKey(), req.GetValue())
	}
	if err != nil {
		return nil, storeErrors.ToStatus(err)
	}
	return &configv1.PutResponse{Revision: rev}, nil
}

func (s *server) Delete(ctx context.Context, req *configv1.DeleteRequest) (*configv1.DeleteResponse, error) {
	if err := checkKey(req.GetKey()); err != nil {
		return nil, err
	}
	if err := mayWrite(ctx, req.GetKey()); err != nil {
		return nil, err
	}
	rev, err := s.store.Delete(ctx, req.GetKey())
	if err != nil {
		return nil, storeErrors.ToStatus(err)
	}
	return &configv1.DeleteResponse{Revision: rev}, nil
}

func (s *server) Watch(req *configv1.WatchRequest, stream configv1.ConfigService_WatchServer) error {
	if req.GetFromRevision() < 0 {
		return status.Errorf(codes.InvalidArgument, "from_revision %d is negative", req.GetFromRevision())
	}
	events, errs := s.store.Watch(stream.Context(), req.GetPrefix(), req.GetFromRevision())
	// Headers tell the client the watch is in place: changes from now on reach it.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for e := range events {
		resp := &configv1.WatchResponse{Type: configv1.EventType_EVENT_TYPE_PUT, Entry: toEntry(e.KV)}
		if e.Type == config.Delete {
			resp.Type = configv1.EventType_EVENT_TYPE_DELETE
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	if err := <-errs; err != nil {
		return storeErrors.ToStatus(err)
	}
	return status.FromContextError(stream.Context().Err()).Err()
}

// StatePrefix is where services keep their own state in the config center: the
// keys under StatePrefix + <service> + "/" are that service's to write (the
// orchestrator's workflows). Every other key is configuration (rate limits,
// breaker rules), which only operators write.
const StatePrefix = "state/"

// Refusals of writes.
var (
	errNotYourKey  = errors.New("configuration is for operators")
	errShadowWrite = errors.New("shadow traffic changes no configuration")
)

// mayWrite lets a service write only its own state; operators may write any
// key (libs/auth let only services and operators this far). Shadow traffic
// (libs/coloring) writes nothing but a service's shadow state, keys with a
// /shadow/ segment under its own: it must leave production as it was.
func mayWrite(ctx context.Context, key string) error {
	caller := auth.FromContext(ctx)
	own := StatePrefix + caller.Name + "/"
	if caller.Kind == auth.Service && !strings.HasPrefix(key, own) {
		return storeErrors.ToStatus(fmt.Errorf("%w: %s may write only its own state (keys under %s), not %q", errNotYourKey, caller, own, key))
	}
	if coloring.IsShadow(ctx) && !(caller.Kind == auth.Service && strings.Contains(strings.TrimPrefix(key, own), "shadow/")) {
		return storeErrors.ToStatus(fmt.Errorf("%w: a shadow request may not write %q", errShadowWrite, key))
	}
	return nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return status.Error(codes.InvalidArgument, "key is empty")
	case len(key) > MaxKeyBytes:
		return status.Errorf(codes.InvalidArgument, "key %.40q... is %d bytes, over the limit of %d", key, len(key), MaxKeyBytes)
	}
	return nil
}

func toEntry(kv config.KV) *configv1.Entry {
	return &configv1.Entry{Key: kv.Key, Value: kv.Value, Revision: kv.Revision}
}

// storeErrors is the ConfigService's error table: the server maps store errors
// with it and Store maps them back, so callers test for config.ErrNotFound on
// whichever side of the wire the store is.
var storeErrors = grpcerr.Mapper{Domain: "monoreel.config", Rules: []grpcerr.Rule{
	{Err: config.ErrNotFound, Code: codes.NotFound, Reason: "KEY_NOT_FOUND"},
	{Err: config.ErrCompacted, Code: codes.OutOfRange, Reason: "REVISION_COMPACTED"},
	{Err: config.ErrConflict, Code: codes.Aborted, Reason: "REVISION_CONFLICT"},
	{Err: errNotYourKey, Code: codes.PermissionDenied, Reason: "KEY_FOR_OPERATORS"},
	{Err: errShadowWrite, Code: codes.FailedPrecondition, Reason: "SHADOW_WRITE_REFUSED"},
}}
