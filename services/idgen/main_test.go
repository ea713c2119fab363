package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/snowflake"
	"github.com/monoreel/monoreel/libs/testutil"
	idgenv1 "github.com/monoreel/monoreel/proto/idgen/v1"
	"github.com/monoreel/monoreel/services/idgen/internal/watermark"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestServeAndStopOnSIGTERM runs the command, calls it over gRPC, sends the process
// a real SIGTERM and checks that it stops cleanly and saves the watermark.
func TestServeAndStopOnSIGTERM(t *testing.T) {
	wm := filepath.Join(t.TempDir(), "watermark")
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	out := &testutil.Buffer{}
	go func() {
		done <- run(context.Background(), []string{"-listen=127.0.0.1:0", "-admin_listen=127.0.0.1:0", "-worker_id=9", "-watermark_file=" + wm}, out,
			func(a net.Addr) { addrs <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("run ended before serving: %v", err)
	}

	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	health, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || health.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", health, err)
	}
	resp, err := idgenv1.NewIDGenServiceClient(conn).NextID(ctx, &idgenv1.NextIDRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetWorkerId() != 9 {
		t.Errorf("worker = %d, want 9", resp.GetWorkerId())
	}

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
	if !strings.Contains(out.String(), "shutting down") {
		t.Errorf("no shutdown log line; output:\n%s", out)
	}
	saved, found, err := watermark.Load(wm)
	if err != nil || !found {
		t.Fatalf("watermark after shutdown: found=%v err=%v", found, err)
	}
	if issued := snowflake.Decompose(resp.GetId(), time.Time{}).Time; saved.WorkerID != 9 || saved.Last().Before(issued) {
		t.Errorf("watermark %+v does not cover the issued ID at %v", saved, issued)
	}
}

func TestRefusesAnotherWorkersWatermark(t *testing.T) {
	wm := filepath.Join(t.TempDir(), "watermark")
	if err := watermark.Save(wm, watermark.Watermark{WorkerID: 1, LastUnixMilli: time.Now().UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-listen=127.0.0.1:0", "-worker_id=2", "-watermark_file=" + wm}, &testutil.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "belongs to worker 1") {
		t.Fatalf("run with worker 1's watermark = %v, want an error naming worker 1", err)
	}
}

func TestVersionFlag(t *testing.T) {
	out := &testutil.Buffer{}
	if err := run(context.Background(), []string{"-version"}, out, nil); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "idgen dev\n" {
		t.Errorf("-version printed %q", got)
	}
}
