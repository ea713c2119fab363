// Package server is the AITagService: it samples the video's frames, measures
// them and merges content and keyword tags.
package server

import (
	"context"
	"errors"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	aitagv1 "github.com/monoreel/monoreel/proto/aitag/v1"
	"github.com/monoreel/monoreel/services/aitag/internal/frames"
	"github.com/monoreel/monoreel/services/aitag/internal/signals"
)

// Server implements aitagv1.AITagServiceServer.
type Server struct {
	aitagv1.UnimplementedAITagServiceServer
	sampling frames.Options
	// deadline bounds a request whose caller set none (or a longer one).
	deadline time.Duration
}

// New returns a Server sampling with o, each request bounded by deadline.
func New(o frames.Options, deadline time.Duration) *Server {
	return &Server{sampling: o, deadline: deadline}
}

func (s *Server) Tag(ctx context.Context, req *aitagv1.TagRequest) (*aitagv1.TagResponse, error) {
	if req.GetSource() == "" {
		return nil, status.Error(codes.InvalidArgument, "source is empty")
	}
	if _, err := os.Stat(req.GetSource()); err != nil {
		return nil, status.Errorf(codes.NotFound, "source: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.deadline)
	defer cancel()
	sampled, err := frames.Sample(ctx, req.GetSource(), s.sampling)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, status.Errorf(codes.DeadlineExceeded, "tagging took longer than the deadline (at most %v)", s.deadline)
	case errors.Is(err, context.Canceled):
		return nil, status.FromContextError(err).Err()
	case err != nil:
		return nil, status.Errorf(codes.InvalidArgument, "source %s: %v", req.GetSource(), err)
	}
	fps := s.sampling.FPS
	if fps <= 0 {
		fps = 2
	}
	sig := signals.Measure(sampled, fps)
	tags := signals.Merge(signals.ContentTags(sig), signals.KeywordTags(req.GetTitle(), req.GetDescription()))
	resp := &aitagv1.TagResponse{Signals: &aitagv1.Signals{
		Frames: int32(sig.Frames), Brightness: sig.Brightness, Colourfulness: sig.Colourfulness,
		Motion: sig.Motion, SceneChangesPerMinute: sig.SceneChangesPerMinute,
	}}
	for _, t := range tags {
		resp.Tags = append(resp.Tags, &aitagv1.Tag{Name: t.Name, Score: t.Score, Evidence: t.Evidence})
	}
	return resp, nil
}
