package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/edgecache"
	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/testproc"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	orchestratorv1 "github.com/monoreel/monoreel/proto/orchestrator/v1"
	transcodev1 "github.com/monoreel/monoreel/proto/transcode/v1"
)

// platform is the real downstream services on loopback, with an edge whose
// origin is the transcode output directory.
type platform struct {
	transcode, aitag, cdnpush *testproc.Service
	edge                      *edgecache.Edge
	state                     string // the orchestrator's embedded store
}

func startPlatform(t *testing.T) *platform {
	hls := t.TempDir()
	origin := httptest.NewServer(http.FileServer(http.Dir(hls)))
	t.Cleanup(origin.Close)
	edge := edgecache.New(origin.URL)
	edgeServer := httptest.NewServer(edge)
	t.Cleanup(edgeServer.Close)
	return &platform{
		transcode: testproc.StartService(t, testproc.Runfile(t, "TRANSCODE_BINARY"), "-out_dir="+hls, "-jobs_file="+filepath.Join(t.TempDir(), "jobs.json"), "-segment_seconds=1"),
		aitag:     testproc.StartService(t, testproc.Runfile(t, "AITAG_BINARY")),
		cdnpush:   testproc.StartService(t, testproc.Runfile(t, "CDNPUSH_BINARY"), "-jobs_file="+filepath.Join(t.TempDir(), "jobs.json"), "-edges="+edgeServer.URL),
		edge:      edge,
		state:     filepath.Join(t.TempDir(), "orchestrator.state"),
	}
}

// orchestrator starts the orchestrator on the platform, and returns it with a
// client as an operator (who may name any source file).
func (p *platform) orchestrator(t *testing.T, args ...string) (*testproc.Service, orchestratorv1.OrchestratorServiceClient) {
	s := testproc.StartService(t, testproc.Runfile(t, "ORCHESTRATOR_BINARY"), append([]string{
		"-transcode_addr=" + p.transcode.Addr, "-aitag_addr=" + p.aitag.Addr, "-cdnpush_addr=" + p.cdnpush.Addr,
		"-state_file=" + p.state, "-instance=test"}, args...)...)
	return s, orchestratorv1.NewOrchestratorServiceClient(s.AdminConn(t))
}

func waitWorkflow(t *testing.T, client orchestratorv1.OrchestratorServiceClient, id int64, done func(*orchestratorv1.Workflow) bool) *orchestratorv1.Workflow {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := client.GetWorkflow(context.Background(), &orchestratorv1.GetWorkflowRequest{VideoId: &commonv1.VideoId{Value: id}})
		if err == nil && done(resp.GetWorkflow()) {
			return resp.GetWorkflow()
		}
		if time.Now().After(deadline) {
			t.Fatalf("video %d: %v, %v", id, resp.GetWorkflow(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func settled(w *orchestratorv1.Workflow) bool {
	return w.GetState() != orchestratorv1.WorkflowState_WORKFLOW_STATE_RUNNING
}

// TestPublishesThroughTheRealServices: a synthetic clip is transcoded by ffmpeg,
// tagged, and every output is fetched by the edge; a second Publish starts
// nothing new.
func TestPublishesThroughTheRealServices(t *testing.T) {
	p := startPlatform(t)
	_, client := p.orchestrator(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-region", "eu-west-1")
	req := &orchestratorv1.PublishRequest{VideoId: &commonv1.VideoId{Value: 41}, Source: testproc.SampleVideo(t, 3), Title: "Colour bars", Description: "a test pattern"}
	if _, err := client.Publish(ctx, req); err != nil {
		t.Fatal(err)
	}
	w := waitWorkflow(t, client, 41, settled)
	if w.GetState() != orchestratorv1.WorkflowState_WORKFLOW_STATE_DONE {
		t.Fatalf("workflow %v", w)
	}
	for _, s := range w.GetStages() {
		if s.GetState() != orchestratorv1.StageState_STAGE_STATE_DONE || s.GetTook().AsDuration() <= 0 {
			t.Errorf("stage %v", s)
		}
	}
	if len(w.GetTags()) == 0 {
		t.Errorf("no tags")
	}
	if _, err := os.Stat(w.GetMasterPlaylist()); err != nil {
		t.Errorf("master playlist: %v", err)
	}
	cached := p.edge.Keys()
	if len(w.GetWarmedKeys()) < 3 {
		t.Errorf("warmed keys %v: want the master playlist, the renditions' playlists and segments", w.GetWarmedKeys())
	}
	for _, k := range w.GetWarmedKeys() {
		if !slices.Contains(cached, k) {
			t.Errorf("%s warmed but not on the edge (edge has %v)", k, cached)
		}
	}
	again, err := client.Publish(ctx, req)
	if err != nil || !again.GetExisting() || again.GetWorkflow().GetState() != orchestratorv1.WorkflowState_WORKFLOW_STATE_DONE {
		t.Fatalf("second Publish: %v, %v", again, err)
	}
}

// TestResumesAfterACrash: the orchestrator is killed (SIGKILL) while the video
// is being transcoded; restarted on the same state, it finishes the workflow
// from where it was, without submitting the transcode again.
func TestResumesAfterACrash(t *testing.T) {
	p := startPlatform(t)
	first, client := p.orchestrator(t)
	req := &orchestratorv1.PublishRequest{VideoId: &commonv1.VideoId{Value: 42}, Source: testproc.SampleVideo(t, 3)}
	if _, err := client.Publish(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	transcode := transcodev1.NewTranscodeServiceClient(p.transcode.Conn)
	jobs := func() int {
		list, err := transcode.List(context.Background(), &transcodev1.ListRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.GetJobs())
	}
	for deadline := time.Now().Add(30 * time.Second); jobs() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no transcode job submitted")
		}
	}
	time.Sleep(200 * time.Millisecond) // the job id is saved right after Submit returns
	first.Stop()

	_, client = p.orchestrator(t)
	w := waitWorkflow(t, client, 42, settled)
	if w.GetState() != orchestratorv1.WorkflowState_WORKFLOW_STATE_DONE || len(w.GetWarmedKeys()) == 0 {
		t.Fatalf("workflow after the restart: %v", w)
	}
	if n := jobs(); n != 1 {
		t.Errorf("%d transcode jobs: want the one submitted before the crash, polled after it", n)
	}
}

// TestUsersPublishOnlyTheirOwnVideos: a user publishes a video they uploaded
// (its owner file says so) and follows its workflow; another user can neither
// publish it nor see its workflow, and no user may name a source file.
func TestUsersPublishOnlyTheirOwnVideos(t *testing.T) {
	p := startPlatform(t)
	videos := t.TempDir()
	video, err := os.ReadFile(testproc.SampleVideo(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"77": video, "77.owner": []byte("uma")} {
		if err := os.WriteFile(filepath.Join(videos, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := p.orchestrator(t, "-videos_dir="+videos)
	uma := orchestratorv1.NewOrchestratorServiceClient(s.UserConn(t, "uma", auth.TierNormal))
	eve := orchestratorv1.NewOrchestratorServiceClient(s.UserConn(t, "eve", auth.TierNormal))
	id := &commonv1.VideoId{Value: 77}

	if _, err := eve.Publish(context.Background(), &orchestratorv1.PublishRequest{VideoId: id}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("eve publishing uma's video: %v, want PermissionDenied", err)
	}
	if _, err := uma.Publish(context.Background(), &orchestratorv1.PublishRequest{VideoId: id}); err != nil {
		t.Fatalf("uma publishing her video: %v", err)
	}
	if w := waitWorkflow(t, uma, 77, settled); w.GetState() != orchestratorv1.WorkflowState_WORKFLOW_STATE_DONE {
		t.Errorf("uma's workflow: %v", w)
	}
	if _, err := eve.GetWorkflow(context.Background(), &orchestratorv1.GetWorkflowRequest{VideoId: id}); status.Code(err) != codes.PermissionDenied || grpcerr.Reason(err) != "NOT_YOUR_VIDEO" {
		t.Errorf("eve reading uma's workflow: %v, want PermissionDenied NOT_YOUR_VIDEO", err)
	}
	if _, err := uma.Publish(context.Background(), &orchestratorv1.PublishRequest{VideoId: &commonv1.VideoId{Value: 78}, Source: "/etc/passwd"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a user naming a source file: %v, want PermissionDenied", err)
	}
}
