// Package server is the orchestrator's gRPC face (monoreel.orchestrator.v1) over
// the workflow engine.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/cache"
	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/grpcerr"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	orchestratorv1 "github.com/monoreel/monoreel/proto/orchestrator/v1"
	"github.com/monoreel/monoreel/services/orchestrator/internal/workflow"
)

// Server implements OrchestratorServiceServer.
type Server struct {
	orchestratorv1.UnimplementedOrchestratorServiceServer
	engine *workflow.Engine
	cache  *cache.Cache // of GetWorkflow's reads; nil: none
	now    func() time.Time
}

// New returns a Server on engine; GetWorkflow reads through c (NewCache), if set.
func New(engine *workflow.Engine, c *cache.Cache) *Server {
	return &Server{engine: engine, cache: c, now: time.Now}
}

// CacheKey is the key of a video's workflow in the cache of NewCache: shadow
// traffic's apart.
func CacheKey(shadow bool, videoID int64) string { return fmt.Sprintf("%t/%d", shadow, videoID) }

// NewCache returns the cache of workflows GetWorkflow reads through: clients
// and the console poll a workflow many times a second while it runs, and each
// poll would otherwise be a read of the store (the config center, etcd). Every
// save of a workflow invalidates its key (workflow.Options.OnSave), with
// libs/cache's delayed double delete; opts.Loader is set here.
func NewCache(engine *workflow.Engine, opts cache.Options) (*cache.Cache, error) {
	opts.Loader = func(ctx context.Context, key string) ([]byte, error) {
		shadow, id, ok := strings.Cut(key, "/")
		videoID, err := strconv.ParseInt(id, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("workflow cache key %q: want <shadow>/<video id>", key)
		}
		ctx = coloring.NewContext(ctx, coloring.Color{Shadow: shadow == "true"})
		w, err := engine.Get(ctx, videoID)
		if err != nil {
			return nil, err
		}
		return json.Marshal(w)
	}
	return cache.New(opts)
}

// Publish implements OrchestratorServiceServer.
func (s *Server) Publish(ctx context.Context, req *orchestratorv1.PublishRequest) (*orchestratorv1.PublishResponse, error) {
	w, existing, err := s.engine.Publish(ctx, req.GetVideoId().GetValue(), req.GetSource(), req.GetTitle(), req.GetDescription())
	if err != nil {
		return nil, workflowErrors.ToStatus(err)
	}
	return &orchestratorv1.PublishResponse{Workflow: s.toProto(w), Existing: existing}, nil
}

// GetWorkflow implements OrchestratorServiceServer.
func (s *Server) GetWorkflow(ctx context.Context, req *orchestratorv1.GetWorkflowRequest) (*orchestratorv1.GetWorkflowResponse, error) {
	w, err := s.get(ctx, req.GetVideoId().GetValue())
	if err == nil {
		err = workflow.MayRead(auth.FromContext(ctx), w)
	}
	if err != nil {
		return nil, workflowErrors.ToStatus(err)
	}
	return &orchestratorv1.GetWorkflowResponse{Workflow: s.toProto(w)}, nil
}

// get reads a workflow, through the cache if there is one.
func (s *Server) get(ctx context.Context, videoID int64) (*workflow.Workflow, error) {
	if s.cache == nil {
		return s.engine.Get(ctx, videoID)
	}
	data, err := s.cache.Get(ctx, CacheKey(coloring.IsShadow(ctx), videoID))
	if err != nil {
		return nil, err
	}
	var w workflow.Workflow
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("a cached workflow: %w", err)
	}
	return &w, nil
}

// workflowErrors maps the engine's errors; anything else (the state store
// failing, say) is Internal, or the store's own status passed on.
var workflowErrors = grpcerr.Mapper{Domain: "monoreel.orchestrator", Rules: []grpcerr.Rule{
	{Err: workflow.ErrInvalid, Code: codes.InvalidArgument, Reason: "INVALID_REQUEST"},
	{Err: workflow.ErrNotFound, Code: codes.NotFound, Reason: "WORKFLOW_NOT_FOUND"},
	{Err: workflow.ErrNotYours, Code: codes.PermissionDenied, Reason: "NOT_YOUR_VIDEO"},
}}

var states = map[workflow.State]orchestratorv1.StageState{
	workflow.Pending: orchestratorv1.StageState_STAGE_STATE_PENDING,
	workflow.Running: orchestratorv1.StageState_STAGE_STATE_RUNNING,
	workflow.Done:    orchestratorv1.StageState_STAGE_STATE_DONE,
	workflow.Failed:  orchestratorv1.StageState_STAGE_STATE_FAILED,
}

var workflowStates = map[workflow.State]orchestratorv1.WorkflowState{
	workflow.Running: orchestratorv1.WorkflowState_WORKFLOW_STATE_RUNNING,
	workflow.Done:    orchestratorv1.WorkflowState_WORKFLOW_STATE_DONE,
	workflow.Failed:  orchestratorv1.WorkflowState_WORKFLOW_STATE_FAILED,
}

func (s *Server) toProto(w *workflow.Workflow) *orchestratorv1.Workflow {
	now := s.now()
	out := &orchestratorv1.Workflow{
		VideoId: &commonv1.VideoId{Value: w.VideoID}, Source: w.Source, Title: w.Title, Description: w.Description,
		State: workflowStates[w.State], Error: w.Err, Created: stamp(w.Created), Finished: stamp(w.Finished),
		MasterPlaylist: w.Master, WarmJobId: w.WarmJob, WarmedKeys: w.Outputs,
	}
	if w.State != workflow.Done {
		out.WarmedKeys = nil // outputs are warm only once the last stage is done
	}
	for _, st := range w.Stages {
		out.Stages = append(out.Stages, &orchestratorv1.Stage{
			Name: st.Name, State: states[st.State], Retries: int32(st.Retries), Error: st.Err,
			Started: stamp(st.Started), Finished: stamp(st.Finished), Took: durationpb.New(st.Took(now)),
		})
	}
	for _, t := range w.Tags {
		out.Tags = append(out.Tags, &orchestratorv1.Tag{Name: t.Name, Score: t.Score})
	}
	return out
}

func stamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
