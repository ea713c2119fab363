package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/testproc"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	transcodev1 "github.com/monoreel/monoreel/proto/transcode/v1"
)

// TestTranscodesThroughTheBinary: the real binary, real ffmpeg, a synthetic clip.
func TestTranscodesThroughTheBinary(t *testing.T) {
	out := t.TempDir()
	proc := testproc.StartService(t, testproc.Runfile(t, "TRANSCODE_BINARY"), "-out_dir="+out, "-jobs_file="+filepath.Join(t.TempDir(), "jobs.json"), "-segment_seconds=1")
	svc := transcodev1.NewTranscodeServiceClient(proc.Conn)
	ctx := context.Background()
	sub, err := svc.Submit(ctx, &transcodev1.SubmitRequest{
		VideoId: &commonv1.VideoId{Value: 77}, Source: testproc.SampleVideo(t, 3),
		Renditions: []*transcodev1.Rendition{{Name: "240p", Height: 240, VideoKbps: 300}},
	})
	if err != nil {
		t.Fatal(err)
	}
	job := settle(ctx, t, svc, sub.GetJob().GetId())
	if job.GetState() != transcodev1.JobState_JOB_STATE_DONE || !strings.HasPrefix(job.GetMasterPlaylist(), out) {
		t.Fatalf("job %v", job)
	}
	if master, err := os.ReadFile(job.GetMasterPlaylist()); err != nil || !strings.Contains(string(master), "240p/index.m3u8") {
		t.Errorf("master playlist %q, %v", master, err)
	}
	list, err := svc.List(ctx, &transcodev1.ListRequest{})
	if err != nil || len(list.GetJobs()) != 1 {
		t.Errorf("List = %v, %v", list, err)
	}
	_, err = svc.Submit(ctx, &transcodev1.SubmitRequest{Source: "x", Renditions: []*transcodev1.Rendition{{Name: "odd", Height: 361, VideoKbps: 1}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("odd height: %v", err)
	}
	if err := proc.Terminate(t, 30*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

func TestMissingFFmpegNamesTheFlag(t *testing.T) {
	err := run(context.Background(), []string{"-ffmpeg=/nonexistent/ffmpeg", "-listen=127.0.0.1:0", "-admin_listen="}, &strings.Builder{}, nil)
	if err == nil || !strings.Contains(err.Error(), "-ffmpeg") {
		t.Errorf("run without ffmpeg = %v, want an error naming -ffmpeg", err)
	}
}

// TestShadowJobsWriteApart: a shadow Submit writes under the output root's
// shadow/ directory, and production neither lists nor finds its job.
func TestShadowJobsWriteApart(t *testing.T) {
	out := t.TempDir()
	proc := testproc.StartService(t, testproc.Runfile(t, "TRANSCODE_BINARY"), "-out_dir="+out, "-jobs_file="+filepath.Join(t.TempDir(), "jobs.json"), "-segment_seconds=1")
	svc := transcodev1.NewTranscodeServiceClient(proc.Conn)
	shadow := metadata.AppendToOutgoingContext(context.Background(), "x-shadow", "true")
	sub, err := svc.Submit(shadow, &transcodev1.SubmitRequest{
		VideoId: &commonv1.VideoId{Value: 78}, Source: testproc.SampleVideo(t, 2),
		Renditions: []*transcodev1.Rendition{{Name: "240p", Height: 240, VideoKbps: 300}},
	})
	if err != nil {
		t.Fatal(err)
	}
	job := settle(shadow, t, svc, sub.GetJob().GetId())
	if !strings.HasPrefix(job.GetMasterPlaylist(), filepath.Join(out, "shadow")+string(filepath.Separator)) {
		t.Fatalf("shadow job %v: want its master playlist under %s/shadow", job, out)
	}
	if _, err := svc.Get(context.Background(), &transcodev1.GetRequest{JobId: job.GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("production's Get of the shadow job: %v, want NotFound", err)
	}
	if list, err := svc.List(context.Background(), &transcodev1.ListRequest{}); err != nil || len(list.GetJobs()) != 0 {
		t.Errorf("production's List: %v, %v; want no job", list, err)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 || entries[0].Name() != "shadow" {
		t.Errorf("the output root holds %v: want only shadow/", entries)
	}
}

// settle polls job id until it is neither queued nor running.
func settle(ctx context.Context, t *testing.T, svc transcodev1.TranscodeServiceClient, id string) *transcodev1.Job {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := svc.Get(ctx, &transcodev1.GetRequest{JobId: id})
		if err != nil {
			t.Fatal(err)
		}
		job := resp.GetJob()
		if s := job.GetState(); s != transcodev1.JobState_JOB_STATE_QUEUED && s != transcodev1.JobState_JOB_STATE_RUNNING {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %v", job.GetState())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKilledServiceForgetsNoJob: the real binary is killed (SIGKILL) with a job
// in hand; restarted on the same jobs file it reports the job and finishes it.
func TestKilledServiceForgetsNoJob(t *testing.T) {
	out, jobsFile := t.TempDir(), filepath.Join(t.TempDir(), "jobs.json")
	args := []string{"-out_dir=" + out, "-jobs_file=" + jobsFile, "-segment_seconds=1"}
	proc := testproc.StartService(t, testproc.Runfile(t, "TRANSCODE_BINARY"), args...)
	sub, err := transcodev1.NewTranscodeServiceClient(proc.Conn).Submit(context.Background(), &transcodev1.SubmitRequest{
		VideoId: &commonv1.VideoId{Value: 79}, Source: testproc.SampleVideo(t, 3), IdempotencyKey: "publish-79",
	})
	if err != nil {
		t.Fatal(err)
	}
	proc.Stop() // SIGKILL
	again := testproc.StartService(t, testproc.Runfile(t, "TRANSCODE_BINARY"), args...)
	svc := transcodev1.NewTranscodeServiceClient(again.Conn)
	if job := settle(context.Background(), t, svc, sub.GetJob().GetId()); job.GetState() != transcodev1.JobState_JOB_STATE_DONE {
		t.Fatalf("the job after a restart: %v", job)
	}
	resp, err := svc.Submit(context.Background(), &transcodev1.SubmitRequest{
		VideoId: &commonv1.VideoId{Value: 79}, Source: testproc.SampleVideo(t, 3), IdempotencyKey: "publish-79",
	})
	if err != nil || !resp.GetExisting() || resp.GetJob().GetId() != sub.GetJob().GetId() {
		t.Errorf("a Submit repeated with the key: %v, %v; want the job %s", resp, err, sub.GetJob().GetId())
	}
}
