package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/monoreel/monoreel/libs/auth"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	orchestratorv1 "github.com/monoreel/monoreel/proto/orchestrator/v1"
	uploadclient "github.com/monoreel/monoreel/services/upload/client"
)

// shadowReport is what the shadow publish did, and did not do.
type shadowReport struct {
	videoID    int64
	outputs    int  // files it wrote, all under the shadow output root
	dryRun     bool // cdnpush's answer: nothing sent to an edge
	shadowHits int  // shadow calls the orchestrator counted apart
}

// checkShadow publishes the video again as shadow traffic (x-shadow: true),
// from the upload on, and checks it changed nothing of production's: no file
// in production's upload or HLS directories, no request to the edge, the
// production workflow as it was; its own work is in the shadow namespaces,
// cdnpush's warm-up a dry run, and the orchestrator's metrics count it apart.
func (sc *scenario) checkShadow(ctx context.Context, video string) error {
	hls := sc.st.layout.HLS()
	prodFiles, err := filesUnder(hls, "shadow")
	if err != nil {
		return err
	}
	prodVideos, err := filesUnder(sc.st.layout.Videos(), "")
	if err != nil {
		return err
	}
	hits, misses := sc.st.edge.Stats()
	shadow := metadata.AppendToOutgoingContext(ctx, "x-shadow", "true")

	conn, err := sc.st.userConn("upload", uploader, auth.TierNormal)
	if err != nil {
		return err
	}
	res, err := sc.uploadAll(shadow, uploadclient.New(conn), video, uploadclient.Options{PartSize: 32 << 10, Parallel: 4})
	if err != nil {
		return fmt.Errorf("shadow upload: %w", err)
	}
	sc.r.shadow.videoID = res.VideoID
	conn, err = sc.st.userConn("orchestrator", uploader, auth.TierNormal)
	if err != nil {
		return err
	}
	client := orchestratorv1.NewOrchestratorServiceClient(conn)
	id := &commonv1.VideoId{Value: res.VideoID}
	if err := retryUnavailable(ctx, func() error {
		_, err := client.Publish(shadow, &orchestratorv1.PublishRequest{VideoId: id, Title: "shadow"})
		return err
	}); err != nil {
		return fmt.Errorf("shadow publish: %w", err)
	}
	w, err := waitWorkflow(shadow, client, id)
	if err != nil {
		return fmt.Errorf("shadow workflow: %w", err)
	}

	if now, err := filesUnder(hls, "shadow"); err != nil || !slices.Equal(now, prodFiles) {
		return fmt.Errorf("production's HLS files changed under a shadow publish (%v)", err)
	}
	if now, err := filesUnder(sc.st.layout.Videos(), ""); err != nil || !slices.Equal(now, prodVideos) {
		return fmt.Errorf("production's videos changed under a shadow upload (%v)", err)
	}
	if h, m := sc.st.edge.Stats(); h != hits || m != misses {
		return fmt.Errorf("the edge got %d requests from a shadow publish", h+m-hits-misses)
	}
	if _, err := client.GetWorkflow(ctx, &orchestratorv1.GetWorkflowRequest{VideoId: id}); err == nil {
		return fmt.Errorf("the shadow workflow of video %d is visible to production", res.VideoID)
	}
	for _, out := range w.GetWarmedKeys() {
		if _, err := os.Stat(filepath.Join(hls, "shadow", out)); err != nil {
			return fmt.Errorf("shadow output %s is not under the shadow output root: %w", out, err)
		}
	}
	sc.r.shadow.outputs = len(w.GetWarmedKeys())
	// The job is on one cdnpush instance: the one that knows it answers.
	var status *cdnpushv1.StatusResponse
	for _, cdnpush := range sc.st.live("cdnpush") {
		if status, err = cdnpushv1.NewCDNPushServiceClient(cdnpush.Conn).Status(shadow, &cdnpushv1.StatusRequest{JobId: w.GetWarmJobId()}); err == nil {
			break
		}
	}
	if err != nil || !status.GetDryRun() {
		return fmt.Errorf("cdnpush's shadow warm-up %s: %v, dry run %v: want a dry run", w.GetWarmJobId(), err, status.GetDryRun())
	}
	sc.r.shadow.dryRun = true
	var metrics string
	for _, orchestrator := range sc.st.live("orchestrator") {
		m, err := httpBody("http://" + orchestrator.AdminAddr + "/metrics")
		if err != nil {
			return err
		}
		metrics += m
	}
	sc.r.shadow.shadowHits = strings.Count(metrics, `shadow="true"`)
	if !strings.Contains(metrics, `grpc_server_handled_total{code="OK",method="/monoreel.orchestrator.v1.OrchestratorService/Publish",shadow="true"} 1`) {
		return fmt.Errorf("the orchestrator does not count the shadow Publish apart")
	}
	return nil
}

// waitWorkflow polls a workflow until it is done (an error if it failed).
func waitWorkflow(ctx context.Context, client orchestratorv1.OrchestratorServiceClient, id *commonv1.VideoId) (*orchestratorv1.Workflow, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var resp *orchestratorv1.GetWorkflowResponse
		err := retryUnavailable(ctx, func() (err error) {
			resp, err = client.GetWorkflow(ctx, &orchestratorv1.GetWorkflowRequest{VideoId: id})
			return err
		})
		if err != nil {
			return nil, err
		}
		w := resp.GetWorkflow()
		switch w.GetState() {
		case orchestratorv1.WorkflowState_WORKFLOW_STATE_DONE:
			return w, nil
		case orchestratorv1.WorkflowState_WORKFLOW_STATE_FAILED:
			return nil, fmt.Errorf("workflow failed: %s", w.GetError())
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("workflow still running after 5 minutes: %v", w)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// filesUnder lists the files under root (relative, sorted), skipping the
// directory skip at its top.
func filesUnder(root, skip string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() && skip != "" && rel == skip {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

func httpBody(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}
