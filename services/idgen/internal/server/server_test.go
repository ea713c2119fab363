package server

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/snowflake"
	"github.com/monoreel/monoreel/libs/testproc"
	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// startServer serves a Server for worker 5 on a loopback port and returns a client.
func startServer(t *testing.T) idgenv1.IDGenServiceClient {
	return startServerWith(t, snowflake.Config{WorkerID: 5})
}

func startServerWith(t *testing.T, cfg snowflake.Config) idgenv1.IDGenServiceClient {
	t.Helper()
	gen, err := snowflake.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn := testproc.ServeGRPC(t, func(srv *grpc.Server) {
		idgenv1.RegisterIDGenServiceServer(srv, New(gen, snowflake.DefaultEpoch, nil))
	})
	return idgenv1.NewIDGenServiceClient(conn)
}

func TestNextIDOverGRPC(t *testing.T) {
	client := startServer(t)
	ctx := context.Background()
	before := time.Now().Add(-time.Millisecond)
	resp, err := client.NextID(ctx, &idgenv1.NextIDRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetWorkerId() != 5 {
		t.Errorf("worker = %d, want 5", resp.GetWorkerId())
	}
	issued := resp.GetIssuedAt().AsTime()
	if issued.Before(before) || issued.After(time.Now()) {
		t.Errorf("issued_at %v not within the call", issued)
	}
	if p := snowflake.Decompose(resp.GetId(), time.Time{}); !p.Time.Equal(issued) || p.WorkerID != 5 {
		t.Errorf("ID %d decomposes to %+v, response says %v worker 5", resp.GetId(), p, issued)
	}
}

func TestNextIDsBatch(t *testing.T) {
	client := startServer(t)
	resp, err := client.NextIDs(context.Background(), &idgenv1.NextIDsRequest{Count: 5000})
	if err != nil {
		t.Fatal(err)
	}
	ids := resp.GetIds()
	if len(ids) != 5000 {
		t.Fatalf("got %d IDs, want 5000", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids[%d] = %d not above %d", i, ids[i], ids[i-1])
		}
	}
}

func TestNextIDsRejectsBadCount(t *testing.T) {
	client := startServer(t)
	for _, count := range []int32{0, -1, MaxBatch + 1} {
		_, err := client.NextIDs(context.Background(), &idgenv1.NextIDsRequest{Count: count})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("NextIDs(count=%d) = %v, want InvalidArgument", count, err)
		}
	}
}

// TestClockRollbackIsUnavailable: a clock behind the last issued ID is transient
// (the caller retries, or asks another worker), and the caller learns why and by
// how much.
func TestClockRollbackIsUnavailable(t *testing.T) {
	client := startServerWith(t, snowflake.Config{WorkerID: 5, NotBefore: time.Now().Add(time.Minute)})
	_, err := client.NextID(context.Background(), &idgenv1.NextIDRequest{})
	info := grpcerr.Info(err)
	if status.Code(err) != codes.Unavailable || info.GetReason() != "CLOCK_MOVED_BACKWARDS" || info.GetDomain() != "monoreel.idgen" {
		t.Fatalf("NextID with the clock a minute behind: %v (%v), want Unavailable CLOCK_MOVED_BACKWARDS", err, info)
	}
	if behind, err := strconv.Atoi(info.GetMetadata()["behind_ms"]); err != nil || behind < 59000 {
		t.Errorf("metadata %v: want behind_ms about 60000", info.GetMetadata())
	}
}
