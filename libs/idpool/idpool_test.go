package idpool

import (
	"context"
	"errors"
	"testing"

	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
	"github.com/monoreel/monoreel/proto/idgen/v1/mock"
	"go.uber.org/mock/gomock"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func batchOf(ids ...int64) *idgenv1.NextIDsResponse {
	return &idgenv1.NextIDsResponse{Ids: ids, WorkerId: 1}
}

func TestNextFetchesOneBatchPerBatchSize(t *testing.T) {
	ctrl := gomock.NewController(t)
	client := mock.NewMockIDGenServiceClient(ctrl)
	ctx := context.Background()
	wantReq := &idgenv1.NextIDsRequest{Count: 3}
	gomock.InOrder(
		client.EXPECT().NextIDs(ctx, protoEq(wantReq)).Return(batchOf(10, 11, 12), nil),
		client.EXPECT().NextIDs(ctx, protoEq(wantReq)).Return(batchOf(20, 21, 22), nil),
	)
	pool := New(client, 3)
	for _, want := range []int64{10, 11, 12, 20} {
		got, err := pool.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Next = %d, want %d", got, want)
		}
	}
	if pool.Buffered() != 2 {
		t.Errorf("Buffered = %d, want 2", pool.Buffered())
	}
}

func TestNextWrapsServiceErrors(t *testing.T) {
	ctrl := gomock.NewController(t)
	client := mock.NewMockIDGenServiceClient(ctrl)
	unavailable := status.Error(codes.Unavailable, "clock moved backwards")
	client.EXPECT().NextIDs(gomock.Any(), gomock.Any()).Return(nil, unavailable)
	client.EXPECT().NextIDs(gomock.Any(), gomock.Any()).Return(batchOf(), nil)

	pool := New(client, 0)
	_, err := pool.Next(context.Background())
	if !errors.Is(err, unavailable) || status.Code(errors.Unwrap(err)) != codes.Unavailable {
		t.Errorf("Next on an unavailable service = %v, want it to wrap the Unavailable status", err)
	}
	if _, err := pool.Next(context.Background()); !errors.Is(err, ErrEmptyBatch) {
		t.Errorf("Next on an empty batch = %v, want ErrEmptyBatch", err)
	}
}

// protoEq matches a proto message by proto.Equal rather than by pointer.
func protoEq(want proto.Message) gomock.Matcher {
	return gomock.Cond(func(got any) bool {
		m, ok := got.(proto.Message)
		return ok && proto.Equal(m, want)
	})
}
