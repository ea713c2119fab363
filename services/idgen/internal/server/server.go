// Package server implements the IDGenService gRPC API over a snowflake generator.
package server

import (
	"context"
	"time"

	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/snowflake"
	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
	"github.com/monoreel/monoreel/services/idgen/internal/workerlease"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxBatch is the most IDs one NextIDs call returns.
const MaxBatch = 10000

// Server serves IDGenService.
type Server struct {
	idgenv1.UnimplementedIDGenServiceServer
	gen   *snowflake.Generator
	epoch time.Time
	may   func() error
}

// New returns a Server issuing IDs from gen, whose IDs count from epoch, while
// may (if set) returns nil: the worker id is still this instance's
// (workerlease.Lease.Check).
func New(gen *snowflake.Generator, epoch time.Time, may func() error) *Server {
	if may == nil {
		may = func() error { return nil }
	}
	return &Server{gen: gen, epoch: epoch, may: may}
}

// NextID returns one new ID.
func (s *Server) NextID(_ context.Context, _ *idgenv1.NextIDRequest) (*idgenv1.NextIDResponse, error) {
	if err := s.may(); err != nil {
		return nil, genErrors.ToStatus(err)
	}
	id, err := s.gen.Next()
	if err != nil {
		return nil, genErrors.ToStatus(err)
	}
	parts := snowflake.Decompose(id, s.epoch)
	return &idgenv1.NextIDResponse{
		Id:       id,
		IssuedAt: timestamppb.New(parts.Time),
		WorkerId: int32(parts.WorkerID),
	}, nil
}

// NextIDs returns count new IDs in increasing order.
func (s *Server) NextIDs(_ context.Context, req *idgenv1.NextIDsRequest) (*idgenv1.NextIDsResponse, error) {
	if req.GetCount() < 1 || req.GetCount() > MaxBatch {
		return nil, status.Errorf(codes.InvalidArgument, "count %d outside 1..%d", req.GetCount(), MaxBatch)
	}
	if err := s.may(); err != nil {
		return nil, genErrors.ToStatus(err)
	}
	ids, err := s.gen.NextN(make([]int64, 0, req.GetCount()), int(req.GetCount()))
	if err != nil {
		// The IDs issued before the error are never reissued; dropping them is safe.
		return nil, genErrors.ToStatus(err)
	}
	return &idgenv1.NextIDsResponse{Ids: ids, WorkerId: int32(s.gen.WorkerID())}, nil
}

// genErrors maps generator errors: a clock rollback is transient (another
// worker, or this one a moment later, can serve the call).
var genErrors = grpcerr.Mapper{Domain: "monoreel.idgen", Rules: []grpcerr.Rule{
	{Err: snowflake.ErrClockMovedBackwards, Code: codes.Unavailable, Reason: "CLOCK_MOVED_BACKWARDS"},
	{Err: snowflake.ErrTimestampOutOfRange, Code: codes.FailedPrecondition, Reason: "TIMESTAMP_OUT_OF_RANGE"},
	{Err: workerlease.ErrLost, Code: codes.Unavailable, Reason: "WORKER_LEASE_LOST"},
}}
