// Package server is the orchestrator's gRPC face (monoreel.orchestrator.v1) over
// the workflow engine.
package server

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/grpcerr"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	orchestratorv1 "github.com/monoreel/monoreel/proto/orchestrator/v1"
	"github.com/monoreel/monoreel/services/orchestrator/internal/workflow"
)

// Server implements OrchestratorServiceServer.
type Server struct {
	orchestratorv1.UnimplementedOrchestratorServiceServer
	engine *workflow.Engine
	now    func() time.Time
}

// New returns a Server on engine.
func New(engine *workflow.Engine) *Server { return &Server{engine: engine, now: time.Now} }

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
	w, err := s.engine.Get(ctx, req.GetVideoId().GetValue())
	if err == nil {
		err = workflow.MayRead(auth.FromContext(ctx), w)
	}
	if err != nil {
		return nil, workflowErrors.ToStatus(err)
	}
	return &orchestratorv1.GetWorkflowResponse{Workflow: s.toProto(w)}, nil
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
