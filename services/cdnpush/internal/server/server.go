// Package server is the CDNPushService over the warm-up engine.
package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/monoreel/monoreel/libs/grpcerr"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	"github.com/monoreel/monoreel/services/cdnpush/internal/warm"
)

// Server implements cdnpushv1.CDNPushServiceServer.
type Server struct {
	cdnpushv1.UnimplementedCDNPushServiceServer
	engine *warm.Engine
	// jobs bounds the jobs' requests: they outlive the Warm call, not the server.
	jobs context.Context
}

// New returns a Server; jobs ends the warm-ups in progress when it is cancelled.
func New(engine *warm.Engine, jobs context.Context) *Server {
	return &Server{engine: engine, jobs: jobs}
}

func (s *Server) Warm(_ context.Context, req *cdnpushv1.WarmRequest) (*cdnpushv1.WarmResponse, error) {
	id, existing, already, err := s.engine.Start(s.jobs, req.GetKeys(), req.GetEdges(), req.GetIdempotencyKey())
	if err != nil {
		return nil, warmErrors.ToStatus(err)
	}
	return &cdnpushv1.WarmResponse{JobId: id, Existing: existing, AlreadyWarm: int32(already)}, nil
}

// warmErrors maps the engine's errors; any other is Internal (grpcerr).
var warmErrors = grpcerr.Mapper{Domain: "monoreel.cdnpush", Rules: []grpcerr.Rule{
	{Err: warm.ErrInvalid, Code: codes.InvalidArgument, Reason: "INVALID_WARM_REQUEST"},
}}

var pairStates = map[warm.PairState]cdnpushv1.PairState{
	warm.Pending:     cdnpushv1.PairState_PAIR_STATE_PENDING,
	warm.Warm:        cdnpushv1.PairState_PAIR_STATE_WARM,
	warm.AlreadyWarm: cdnpushv1.PairState_PAIR_STATE_ALREADY_WARM,
	warm.Failed:      cdnpushv1.PairState_PAIR_STATE_FAILED,
}

func (s *Server) Status(_ context.Context, req *cdnpushv1.StatusRequest) (*cdnpushv1.StatusResponse, error) {
	j, ok := s.engine.Job(req.GetJobId())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no warm-up job %q (jobs are kept for a while, then forgotten)", req.GetJobId())
	}
	resp := &cdnpushv1.StatusResponse{JobId: j.ID, State: cdnpushv1.JobState_JOB_STATE_RUNNING}
	switch settled, failed := j.Settled(); {
	case settled && failed:
		resp.State = cdnpushv1.JobState_JOB_STATE_FAILED
	case settled:
		resp.State = cdnpushv1.JobState_JOB_STATE_DONE
	}
	for _, p := range j.Pairs {
		resp.Pairs = append(resp.Pairs, &cdnpushv1.PairStatus{
			Key: p.Key, Edge: p.Edge, State: pairStates[p.State], Attempts: int32(p.Attempts),
			Error: p.Err, Took: durationpb.New(p.Took),
		})
	}
	return resp, nil
}
