package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/monoreel/monoreel/libs/testproc"
	aitagv1 "github.com/monoreel/monoreel/proto/aitag/v1"
)

// TestTagsARealClip: the real binary tags a synthetic clip (ffmpeg's test pattern:
// bright, very colourful, a moving counter), and tags it the same way twice.
func TestTagsARealClip(t *testing.T) {
	proc := testproc.StartService(t, testproc.Runfile(t, "AITAG_BINARY"))
	svc := aitagv1.NewAITagServiceClient(proc.Conn)
	req := &aitagv1.TagRequest{Source: testproc.SampleVideo(t, 4), Title: "My cat plays the guitar", Description: "a song for my dog"}
	first, err := svc.Tag(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if first.GetSignals().GetFrames() != 8 || first.GetSignals().GetColourfulness() < 60 {
		t.Errorf("signals %v: want 8 frames (4 s at 2 fps) of a very colourful pattern", first.GetSignals())
	}
	got := map[string]*aitagv1.Tag{}
	for _, tag := range first.GetTags() {
		got[tag.GetName()] = tag
		if len(tag.GetEvidence()) == 0 || tag.GetScore() <= 0 || tag.GetScore() > 1 {
			t.Errorf("tag %v: want evidence and a score in (0, 1]", tag)
		}
	}
	for _, want := range []string{"colorful", "pets", "music"} {
		if got[want] == nil {
			t.Errorf("no %q tag in %v", want, first.GetTags())
		}
	}
	second, err := svc.Tag(context.Background(), req)
	if err != nil || !proto.Equal(first, second) {
		t.Errorf("the same input tagged differently:\n%v\n%v", first, second)
	}

	_, err = svc.Tag(context.Background(), &aitagv1.TagRequest{Source: "/nonexistent.mp4"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("missing source: %v", err)
	}
	if err := proc.Terminate(t, 30*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestDeadline: a request that cannot finish in time fails with DeadlineExceeded
// and does not hang the service.
func TestDeadline(t *testing.T) {
	proc := testproc.StartService(t, testproc.Runfile(t, "AITAG_BINARY"), "-deadline=1ms")
	_, err := aitagv1.NewAITagServiceClient(proc.Conn).Tag(context.Background(), &aitagv1.TagRequest{Source: testproc.SampleVideo(t, 2)})
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("Tag with a 1ms deadline = %v", err)
	}
}

func TestMissingFFmpegNamesTheFlag(t *testing.T) {
	err := run(context.Background(), []string{"-ffmpeg=/nonexistent/ffmpeg", "-listen=127.0.0.1:0", "-admin_listen="}, &strings.Builder{}, nil)
	if err == nil || !strings.Contains(err.Error(), "-ffmpeg") {
		t.Errorf("run without ffmpeg = %v, want an error naming -ffmpeg", err)
	}
}
