package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
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
	"github.com/monoreel/monoreel/libs/grpcerr"
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

// TestUploadPartIsPutPart: the real binary takes a part in one message, up to
// 4 MiB, with PutPart's checks, idempotence and errors, and the two mix in one
// upload.
func TestUploadPartIsPutPart(t *testing.T) {
	svc := testproc.StartService(t, binary(t), "-data_dir="+t.TempDir())
	ctx := context.Background()
	uma := uploadv1.NewUploadServiceClient(svc.UserConn(t, "uma", auth.TierNormal))
	const partSize = 4 << 20
	content := make([]byte, partSize+1000)
	for i := range content {
		content[i] = byte(i * 7)
	}
	first, last := content[:partSize], content[partSize:]
	up, err := uma.Init(ctx, &uploadv1.InitRequest{Name: "v.mp4", TotalSize: int64(len(content)), PartSize: partSize, ContentType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	put := func(c uploadv1.UploadServiceClient, n int32, data []byte, sum []byte) (*uploadv1.UploadPartResponse, error) {
		return c.UploadPart(ctx, &uploadv1.UploadPartRequest{UploadId: up.GetUploadId(), PartNumber: n, Md5: sum, Content: data})
	}
	sum := md5.Sum(first)
	resp, err := put(uma, 1, first, sum[:])
	if err != nil || resp.GetAlreadyStored() || resp.GetPart().GetSize() != partSize {
		t.Fatalf("UploadPart of a 4 MiB part: %v, %v", resp, err)
	}
	if resp, err := put(uma, 1, first, sum[:]); err != nil || !resp.GetAlreadyStored() {
		t.Errorf("UploadPart again: %v, %v; want already stored", resp, err)
	}
	other := bytes.Clone(first)
	other[0]++
	otherSum := md5.Sum(other)
	for name, c := range map[string]struct {
		client uploadv1.UploadServiceClient
		n      int32
		data   []byte
		sum    []byte
		code   codes.Code
		reason string
	}{
		"another part for a stored number": {uma, 1, other, otherSum[:], codes.FailedPrecondition, "UPLOAD_STATE_CONFLICT"},
		"a wrong MD5":                      {uma, 2, last, sum[:], codes.InvalidArgument, "INVALID_REQUEST"},
		"another user":                     {uploadv1.NewUploadServiceClient(svc.UserConn(t, "eve", auth.TierNormal)), 2, last, nil, codes.PermissionDenied, "NOT_YOUR_UPLOAD"},
		"over 4 MiB":                       {uma, 2, append(bytes.Clone(first), 0), nil, codes.InvalidArgument, "INVALID_REQUEST"},
	} {
		_, err := put(c.client, c.n, c.data, c.sum)
		if status.Code(err) != c.code || grpcerr.Reason(err) != c.reason {
			t.Errorf("%s: %v, want %v %s", name, err, c.code, c.reason)
		}
	}
	// The last part through PutPart's stream: the two make one upload.
	stream, err := uma.PutPart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lastSum := md5.Sum(last)
	stream.Send(&uploadv1.PutPartRequest{Content: &uploadv1.PutPartRequest_Header{Header: &uploadv1.PartHeader{UploadId: up.GetUploadId(), PartNumber: 2, Md5: lastSum[:]}}})
	stream.Send(&uploadv1.PutPartRequest{Content: &uploadv1.PutPartRequest_Chunk{Chunk: last}})
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	whole := sha256.Sum256(content)
	done, err := uma.Complete(ctx, &uploadv1.CompleteRequest{UploadId: up.GetUploadId(), Sha256: whole[:]})
	if err != nil || done.GetSize() != int64(len(content)) {
		t.Fatalf("Complete: %v, %v", done, err)
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
