package client

import (
	"context"
	"testing"

	"go.uber.org/mock/gomock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	"github.com/monoreel/monoreel/proto/cdnpush/v1/mock"
)

// TestWarmerIdempotencyKey: the same batch always carries the same key (a retry
// starts nothing new); another batch another key; errors come back to the cache.
func TestWarmerIdempotencyKey(t *testing.T) {
	m := mock.NewMockCDNPushServiceClient(gomock.NewController(t))
	var keys []string
	m.EXPECT().Warm(gomock.Any(), gomock.Any()).Times(3).DoAndReturn(
		func(_ context.Context, req *cdnpushv1.WarmRequest, _ ...grpc.CallOption) (*cdnpushv1.WarmResponse, error) {
			if len(req.GetEdges()) != 1 || req.GetEdges()[0] != "http://edge" {
				t.Errorf("edges %v", req.GetEdges())
			}
			keys = append(keys, req.GetIdempotencyKey())
			return &cdnpushv1.WarmResponse{JobId: "j"}, nil
		})
	w := NewWarmerWithClient(m, []string{"http://edge"})
	ctx := context.Background()
	for _, batch := range [][]string{{"a", "b"}, {"a", "b"}, {"a", "c"}} {
		if err := w.Warm(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if keys[0] != keys[1] || keys[0] == keys[2] || keys[0] == "" {
		t.Errorf("idempotency keys %q: want the same for the same batch, another for another", keys)
	}
	m.EXPECT().Warm(gomock.Any(), gomock.Any()).Return(nil, status.Error(codes.Unavailable, "cdnpush down"))
	if err := w.Warm(ctx, []string{"x"}); status.Code(err) != codes.Unavailable {
		t.Errorf("Warm with the service down = %v", err)
	}
}
