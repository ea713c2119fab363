package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/libs/testutil"
	uploadv1 "github.com/monoreel/monoreel/proto/upload/v1"
	"github.com/monoreel/monoreel/services/upload/client"
)

func binary(t testing.TB) string { return testproc.Runfile(t, "UPLOAD_BINARY") }

// TestKilledMidUploadResumesAfterRestart: the real binary is killed (SIGKILL)
// after a few parts; restarted on the same data directory it has kept them, and
// the client resumes, sending only the rest.
func TestKilledMidUploadResumesAfterRestart(t *testing.T) {
	data := t.TempDir()
	svc := testproc.StartService(t, binary(t), "-data_dir="+data)
	path, content := testutil.RandomFile(t, "video.mp4", 40*1024)
	var accepted atomic.Int32
	opts := client.Options{PartSize: 1024, Parallel: 1, OnPart: func(int32, bool) {
		if accepted.Add(1) == 5 {
			svc.Stop() // SIGKILL
		}
	}}
	_, err := client.New(svc.UserConn(t, "uma", auth.TierNormal)).Upload(context.Background(), path, opts)
	var interrupted *client.InterruptedError
	if !errors.As(err, &interrupted) {
		t.Fatalf("upload through a killed service: %v", err)
	}

	again := testproc.StartService(t, binary(t), "-data_dir="+data)
	opts.OnPart, opts.ResumeID, opts.Parallel = nil, interrupted.UploadID, 4
	uma := again.UserConn(t, "uma", auth.TierNormal)
	// Nobody but uma sees her upload: not another user, not a caller without a token.
	others := map[string]grpc.ClientConnInterface{"another user": again.UserConn(t, "eve", auth.TierNormal), "a service": again.Conn}
	for name, conn := range others {
		_, err := uploadv1.NewUploadServiceClient(conn).ListParts(context.Background(), &uploadv1.ListPartsRequest{UploadId: interrupted.UploadID})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s listing uma's upload: %v, want PermissionDenied", name, err)
		}
	}
	res, err := client.New(uma).Upload(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if owner, err := os.ReadFile(filepath.Join(data, "videos", strconv.FormatInt(res.VideoID, 10)+".owner")); err != nil || string(owner) != "uma" {
		t.Errorf("the video's owner file: %q, %v; want uma", owner, err)
	}

	// The same file as shadow traffic lands apart, and production cannot see it.
	shadow := metadata.AppendToOutgoingContext(context.Background(), "x-shadow", "true")
	shadowRes, err := client.New(uma).Upload(shadow, path, client.Options{PartSize: 1024, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(data, "shadow", "videos", strconv.FormatInt(shadowRes.VideoID, 10))); err != nil || !bytes.Equal(got, content) {
		t.Errorf("the shadow video: %d bytes, %v", len(got), err)
	}
	if _, err := os.Stat(filepath.Join(data, "videos", strconv.FormatInt(shadowRes.VideoID, 10))); err == nil {
		t.Error("the shadow upload is among production's videos")
	}
	_, err = uploadv1.NewUploadServiceClient(uma).ListParts(context.Background(), &uploadv1.ListPartsRequest{UploadId: shadowRes.UploadID})
	if status.Code(err) != codes.NotFound {
		t.Errorf("production's ListParts of the shadow upload: %v, want NotFound", err)
	}
	if res.Sent != 40-5 {
		t.Errorf("resumed upload sent %d parts, want the 35 the service lacked", res.Sent)
	}
	got, err := os.ReadFile(filepath.Join(data, "videos", strconv.FormatInt(res.VideoID, 10)))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("stored video: %d bytes, %v", len(got), err)
	}
	if err := again.Terminate(t, 30*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// BenchmarkUpload256MiB uploads a 256 MiB file to the real binary over loopback
// (8 MiB parts, 4 at a time) and reports MB/s.
func BenchmarkUpload256MiB(b *testing.B) {
	svc := testproc.StartService(b, binary(b), "-data_dir="+b.TempDir())
	path, _ := testutil.RandomFile(b, "video.mp4", 256<<20)
	c := client.New(svc.UserConn(b, "uma", auth.TierNormal))
	b.SetBytes(256 << 20)
	for b.Loop() {
		if _, err := c.Upload(context.Background(), path, client.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
