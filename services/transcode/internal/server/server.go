// Package server is the TranscodeService over the job manager.
package server

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/tracing"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	transcodev1 "github.com/monoreel/monoreel/proto/transcode/v1"
	"github.com/monoreel/monoreel/services/transcode/internal/jobs"
)

// Server implements transcodev1.TranscodeServiceServer.
type Server struct {
	transcodev1.UnimplementedTranscodeServiceServer
	production, shadow *jobs.Manager
	ladder             []jobs.Rendition // for requests naming none
}

// New returns a Server running production's jobs on production and shadow
// traffic's (libs/coloring) on shadow, which writes to an output root of its
// own: neither sees the other's jobs. ladder is for requests naming none.
func New(production, shadow *jobs.Manager, ladder []jobs.Rendition) *Server {
	return &Server{production: production, shadow: shadow, ladder: ladder}
}

// jobs is the manager of the call's traffic: shadow or production.
func (s *Server) jobs(ctx context.Context) *jobs.Manager {
	return coloring.ForTraffic(ctx, s.production, s.shadow)
}

func (s *Server) Submit(ctx context.Context, req *transcodev1.SubmitRequest) (*transcodev1.SubmitResponse, error) {
	ladder := s.ladder
	if len(req.GetRenditions()) > 0 {
		ladder = nil
		for _, r := range req.GetRenditions() {
			ladder = append(ladder, jobs.Rendition{Name: r.GetName(), Height: int(r.GetHeight()), VideoKbps: int(r.GetVideoKbps())})
		}
	}
	j, existing, err := s.jobs(ctx).Submit(tracing.Parent(ctx), req.GetIdempotencyKey(), req.GetVideoId().GetValue(), req.GetSource(), ladder)
	if err != nil {
		return nil, jobErrors.ToStatus(err)
	}
	return &transcodev1.SubmitResponse{Job: toProto(j), Existing: existing}, nil
}

func (s *Server) Get(ctx context.Context, req *transcodev1.GetRequest) (*transcodev1.GetResponse, error) {
	j, err := s.jobs(ctx).Get(req.GetJobId())
	if err != nil {
		return nil, jobErrors.ToStatus(err)
	}
	return &transcodev1.GetResponse{Job: toProto(j)}, nil
}

func (s *Server) Cancel(ctx context.Context, req *transcodev1.CancelRequest) (*transcodev1.CancelResponse, error) {
	j, err := s.jobs(ctx).Cancel(req.GetJobId())
	if err != nil {
		return nil, jobErrors.ToStatus(err)
	}
	return &transcodev1.CancelResponse{Job: toProto(j)}, nil
}

// List pages through the jobs, newest first; the page token is the offset.
func (s *Server) List(ctx context.Context, req *transcodev1.ListRequest) (*transcodev1.ListResponse, error) {
	all := s.jobs(ctx).List()
	size := int(req.GetPage().GetPageSize())
	if size <= 0 || size > 1000 {
		size = 100
	}
	offset := 0
	if tok := req.GetPage().GetPageToken(); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "page_token %q is not one this service gave", tok)
		}
		offset = min(n, len(all))
	}
	end := min(offset+size, len(all))
	resp := &transcodev1.ListResponse{Page: &commonv1.PageResponse{}}
	for _, j := range all[offset:end] {
		resp.Jobs = append(resp.Jobs, toProto(j))
	}
	if end < len(all) {
		resp.Page.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

var states = map[jobs.State]transcodev1.JobState{
	jobs.Queued:    transcodev1.JobState_JOB_STATE_QUEUED,
	jobs.Running:   transcodev1.JobState_JOB_STATE_RUNNING,
	jobs.Done:      transcodev1.JobState_JOB_STATE_DONE,
	jobs.Failed:    transcodev1.JobState_JOB_STATE_FAILED,
	jobs.Cancelled: transcodev1.JobState_JOB_STATE_CANCELLED,
}

func toProto(j jobs.Job) *transcodev1.Job {
	p := &transcodev1.Job{
		Id: j.ID, VideoId: &commonv1.VideoId{Value: j.VideoID}, Source: j.Source, State: states[j.State],
		Error: j.Err, MasterPlaylist: j.Master, Outputs: j.Outputs, Created: stamp(j.Created), Started: stamp(j.Started), Finished: stamp(j.Finished),
	}
	for _, r := range j.Renditions {
		p.Renditions = append(p.Renditions, &transcodev1.Rendition{Name: r.Name, Height: int32(r.Height), VideoKbps: int32(r.VideoKbps)})
	}
	return p
}

func stamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// jobErrors maps the job manager's errors. A full queue and a restart are
// transient: the orchestrator retries ResourceExhausted and Unavailable.
var jobErrors = grpcerr.Mapper{Domain: "monoreel.transcode", Rules: []grpcerr.Rule{
	{Err: jobs.ErrInvalid, Code: codes.InvalidArgument, Reason: "INVALID_JOB"},
	{Err: jobs.ErrNotFound, Code: codes.NotFound, Reason: "JOB_NOT_FOUND"},
	{Err: jobs.ErrQueueFull, Code: codes.ResourceExhausted, Reason: "QUEUE_FULL"},
	{Err: jobs.ErrShuttingDown, Code: codes.Unavailable, Reason: "SHUTTING_DOWN"},
}}
