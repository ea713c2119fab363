package client

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"io"
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
	uploadmock "github.com/monoreel/monoreel/proto/upload/v1/mock"
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
		uploadv1.RegisterUploadServiceServer(srv, server.New(st, st, idpool.New(ids, 2)))
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

// TestSendEOFReportsTheServersReason: when the service ends a part's stream
// early, Send says only io.EOF; the upload fails with the service's status, which
// the client fetches with CloseAndRecv. A real server cannot be made to end the
// stream at a chosen Send, so the client and its PutPart stream are mocks.
func TestSendEOFReportsTheServersReason(t *testing.T) {
	ctrl := gomock.NewController(t)
	svc := uploadmock.NewMockUploadServiceClient(ctrl)
	stream := uploadmock.NewMockUploadService_PutPartClient(ctrl)
	path, data := testutil.RandomFile(t, "clip.mp4", 250)
	sum := md5.Sum(data)
	refused := status.Error(codes.FailedPrecondition, "upload u1 was aborted")
	gomock.InOrder(
		svc.EXPECT().Init(gomock.Any(), gomock.Any()).Return(&uploadv1.InitResponse{UploadId: "u1", PartCount: 1}, nil),
		svc.EXPECT().PutPart(gomock.Any()).Return(stream, nil),
		stream.EXPECT().Send(gomock.Cond(func(req *uploadv1.PutPartRequest) bool {
			h := req.GetHeader()
			return h.GetUploadId() == "u1" && h.GetPartNumber() == 1 && bytes.Equal(h.GetMd5(), sum[:])
		})).Return(nil),
		stream.EXPECT().Send(gomock.Cond(func(req *uploadv1.PutPartRequest) bool {
			return bytes.Equal(req.GetChunk(), data[:100])
		})).Return(io.EOF),
		stream.EXPECT().CloseAndRecv().Return(nil, refused),
	)
	_, err := (&Client{svc: svc}).Upload(context.Background(), path, Options{PartSize: 1024, ChunkSize: 100})
	var interrupted *InterruptedError
	if !errors.As(err, &interrupted) || interrupted.UploadID != "u1" || !errors.Is(err, refused) {
		t.Fatalf("Upload: %v, want an InterruptedError of u1 wrapping %v", err, refused)
	}
}
