// Package server is the CDNPushService over the warm-up engine.
package server

import (
	"context"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/grpcerr"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	"github.com/monoreel/monoreel/services/cdnpush/internal/warm"
)

// Server implements cdnpushv1.CDNPushServiceServer.
type Server struct {
	cdnpushv1.UnimplementedCDNPushServiceServer
	production, shadow *warm.Engine
	// jobs bounds the jobs' requests: they outlive the Warm call, not the server.
	jobs context.Context
}

// New returns a Server warming with production, and running shadow traffic's
// (libs/coloring) warm-ups on shadow, a dry run (NewDryRun) that never reaches
// an edge; jobs ends the warm-ups in progress when it is cancelled.
func New(production, shadow *warm.Engine, jobs context.Context) *Server {
	return &Server{production: production, shadow: shadow, jobs: jobs}
}

// engine is the engine of the call's traffic, and whether it is the dry run.
func (s *Server) engine(ctx context.Context) (*warm.Engine, bool) {
	return coloring.ForTraffic(ctx, s.production, s.shadow), coloring.IsShadow(ctx)
}

func (s *Server) Warm(ctx context.Context, req *cdnpushv1.WarmRequest) (*cdnpushv1.WarmResponse, error) {
	engine, dryRun := s.engine(ctx)
	id, existing, already, err := engine.Start(s.jobs, req.GetKeys(), req.GetEdges(), req.GetIdempotencyKey())
	if err != nil {
		return nil, warmErrors.ToStatus(err)
	}
	return &cdnpushv1.WarmResponse{JobId: id, Existing: existing, AlreadyWarm: int32(already), DryRun: dryRun}, nil
}

// NewDryRun is an engine for shadow traffic: it checks and records warm-ups as
// production's engine does, and answers every edge request itself, so no
// shadow key ever reaches a production edge.
func NewDryRun(opts warm.Options) *warm.Engine {
	opts.Client = &http.Client{Transport: dryRun{}}
	return warm.New(opts)
}

// dryRun answers every request itself, as an edge that had the key.
type dryRun struct{}

func (dryRun) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK (shadow: not sent)", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: req,
	}, nil
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

func (s *Server) Status(ctx context.Context, req *cdnpushv1.StatusRequest) (*cdnpushv1.StatusResponse, error) {
	engine, dryRun := s.engine(ctx)
	j, ok := engine.Job(req.GetJobId())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no warm-up job %q (jobs are kept for a while, then forgotten)", req.GetJobId())
	}
	resp := &cdnpushv1.StatusResponse{JobId: j.ID, State: cdnpushv1.JobState_JOB_STATE_RUNNING, DryRun: dryRun}
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
