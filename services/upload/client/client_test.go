package client

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"

	"go.uber.org/mock/gomock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/idpool"
	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/libs/testutil"
	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
	"github.com/monoreel/monoreel/proto/idgen/v1/mock"
	uploadv1 "github.com/monoreel/monoreel/proto/upload/v1"
	"github.com/monoreel/monoreel/services/upload/internal/server"
	"github.com/monoreel/monoreel/services/upload/internal/store"
)

// serve runs the upload service in-process on loopback, with the IDGen service
// as a gomock mock and a fault: the first failParts PutPart calls fail.
func serve(t *testing.T, failParts int32) (*grpc.ClientConn, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ids := mock.NewMockIDGenServiceClient(gomock.NewController(t))
	ids.EXPECT().NextIDs(gomock.Any(), gomock.Any()).AnyTimes().Return(&idgenv1.NextIDsResponse{Ids: []int64{7001, 7002}}, nil)
	var calls atomic.Int32
	fault := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod == uploadv1.UploadService_PutPart_FullMethodName && calls.Add(1) <= failParts {
			return status.Error(codes.Unavailable, "injected: connection lost")
		}
		return handler(srv, ss)
	}
	conn := testproc.ServeGRPC(t, func(srv *grpc.Server) {
		uploadv1.RegisterUploadServiceServer(srv, server.New(st, idpool.New(ids, 2)))
	}, grpc.StreamInterceptor(fault))
	return conn, st
}

func TestUpload(t *testing.T) {
	conn, st := serve(t, 0)
	path, data := testutil.RandomFile(t, "clip.mp4", 10*1024+17)
	res, err := New(conn).Upload(context.Background(), path, Options{PartSize: 1024, Parallel: 3, ChunkSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.VideoID != 7001 || res.Sent != 11 {
		t.Errorf("result %+v, want video 7001 from 11 parts", res)
	}
	if got, _ := os.ReadFile(st.VideoPath(res.VideoID)); !bytes.Equal(got, data) {
		t.Error("the stored video differs from the file")
	}
}

// TestResumeAfterInterruption: parts fail half-way; the error carries the upload
// id; resuming sends only what is missing and completes.
func TestResumeAfterInterruption(t *testing.T) {
	conn, st := serve(t, 3)
	path, data := testutil.RandomFile(t, "clip.mp4", 8*1024)
	c := New(conn)
	_, err := c.Upload(context.Background(), path, Options{PartSize: 1024, Parallel: 1})
	var interrupted *InterruptedError
	if !errors.As(err, &interrupted) || status.Code(err) != codes.Unavailable {
		t.Fatalf("first attempt: %v, want an InterruptedError wrapping Unavailable", err)
	}
	// Parallel 1 stops at the first failure: nothing stored yet. Resume twice
	// more: the fault fails two more parts, then everything goes through.
	for range 2 {
		_, err = c.Upload(context.Background(), path, Options{PartSize: 1024, Parallel: 1, ResumeID: interrupted.UploadID})
		if !errors.As(err, &interrupted) {
			t.Fatalf("resume: %v", err)
		}
	}
	res, err := c.Upload(context.Background(), path, Options{PartSize: 1024, Parallel: 2, ResumeID: interrupted.UploadID})
	if err != nil {
		t.Fatal(err)
	}
	if res.UploadID != interrupted.UploadID || res.Sent != 8 {
		t.Errorf("result %+v", res)
	}
	if got, _ := os.ReadFile(st.VideoPath(res.VideoID)); !bytes.Equal(got, data) {
		t.Error("the stored video differs from the file")
	}
	if _, err := c.Upload(context.Background(), path, Options{PartSize: 2048, ResumeID: interrupted.UploadID}); err == nil {
		t.Error("resumed with another part size")
	}
}

// TestServerErrorsNameThePart: what the service refuses, the client reports with
// the service's reason.
func TestServerErrorsNameThePart(t *testing.T) {
	conn, _ := serve(t, 0)
	svc := uploadv1.NewUploadServiceClient(conn)
	ctx := context.Background()
	init, err := svc.Init(ctx, &uploadv1.InitRequest{Name: "a", TotalSize: 2048, PartSize: 1024, ContentType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	stream, _ := svc.PutPart(ctx)
	stream.Send(&uploadv1.PutPartRequest{Content: &uploadv1.PutPartRequest_Header{Header: &uploadv1.PartHeader{UploadId: init.GetUploadId(), PartNumber: 5, Md5: make([]byte, 16)}}})
	if _, err := stream.CloseAndRecv(); status.Code(err) != codes.InvalidArgument || !bytes.Contains([]byte(err.Error()), []byte("part 5 is out of range")) {
		t.Errorf("part 5 of 2: %v", err)
	}
	_, err = svc.Complete(ctx, &uploadv1.CompleteRequest{UploadId: init.GetUploadId(), Sha256: make([]byte, 32)})
	if status.Code(err) != codes.FailedPrecondition || !bytes.Contains([]byte(err.Error()), []byte("2 of 2 parts missing: 1, 2")) {
		t.Errorf("Complete with nothing: %v", err)
	}
	if _, err := svc.ListParts(ctx, &uploadv1.ListPartsRequest{UploadId: "0123456789abcdef0123456789abcdef"}); status.Code(err) != codes.NotFound {
		t.Errorf("ListParts of an unknown upload: %v", err)
	}
}
