package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/cache"
	"github.com/monoreel/monoreel/libs/grpcerr"
	"github.com/monoreel/monoreel/libs/testproc"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	"github.com/monoreel/monoreel/services/cdnpush/client"
)

// edge is a real HTTP server on loopback: it records the paths it was asked for.
type edge struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func newEdge(t *testing.T, status int, delay time.Duration) *edge {
	e := &edge{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.paths = append(e.paths, r.URL.Path)
		e.mu.Unlock()
		time.Sleep(delay)
		w.WriteHeader(status)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *edge) asked(path string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.paths {
		if p == path {
			return true
		}
	}
	return false
}

func settled(t *testing.T, svc cdnpushv1.CDNPushServiceClient, id string) *cdnpushv1.StatusResponse {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := svc.Status(context.Background(), &cdnpushv1.StatusRequest{JobId: id})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetState() != cdnpushv1.JobState_JOB_STATE_RUNNING {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still running: %v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWarmsRealEdges runs the real binary against three edges on loopback: a
// good one, a slow one and a failing one.
func TestWarmsRealEdges(t *testing.T) {
	good := newEdge(t, http.StatusOK, 0)
	slow := newEdge(t, http.StatusOK, 300*time.Millisecond)
	failing := newEdge(t, http.StatusInternalServerError, 0)
	bin := testproc.Runfile(t, "CDNPUSH_BINARY")
	proc := testproc.StartService(t, bin, "-jobs_file="+filepath.Join(t.TempDir(), "jobs.json"), "-edges="+good.URL+","+slow.URL, "-attempts=2", "-timeout=5s")
	svc := cdnpushv1.NewCDNPushServiceClient(proc.Conn)

	resp, err := svc.Warm(context.Background(), &cdnpushv1.WarmRequest{Keys: []string{"v/9/master.m3u8", "v/9/720p/0.ts"}, IdempotencyKey: "publish-9"})
	if err != nil {
		t.Fatal(err)
	}
	st := settled(t, svc, resp.GetJobId())
	if st.GetState() != cdnpushv1.JobState_JOB_STATE_DONE || len(st.GetPairs()) != 4 {
		t.Fatalf("status %v, want DONE with 4 pairs", st)
	}
	for _, p := range st.GetPairs() {
		if p.GetEdge() == slow.URL && p.GetTook().AsDuration() < 300*time.Millisecond {
			t.Errorf("slow edge pair took %v", p.GetTook().AsDuration())
		}
	}
	if !slow.asked("/v/9/720p/0.ts") || !good.asked("/v/9/master.m3u8") {
		t.Errorf("edges asked: good %v, slow %v", good.paths, slow.paths)
	}
	again, err := svc.Warm(context.Background(), &cdnpushv1.WarmRequest{Keys: []string{"other"}, IdempotencyKey: "publish-9"})
	if err != nil || !again.GetExisting() || again.GetJobId() != resp.GetJobId() {
		t.Errorf("retried Warm = %v, %v; want the first job", again, err)
	}

	bad, err := svc.Warm(context.Background(), &cdnpushv1.WarmRequest{Keys: []string{"k"}, Edges: []string{failing.URL}})
	if err != nil {
		t.Fatal(err)
	}
	st = settled(t, svc, bad.GetJobId())
	if p := st.GetPairs()[0]; st.GetState() != cdnpushv1.JobState_JOB_STATE_FAILED || p.GetAttempts() != 2 || !strings.Contains(p.GetError(), "500") {
		t.Errorf("failing edge: %v", st)
	}

	_, err = svc.Warm(context.Background(), &cdnpushv1.WarmRequest{})
	if status.Code(err) != codes.InvalidArgument || grpcerr.Reason(err) != "INVALID_WARM_REQUEST" || grpcerr.Info(err).GetDomain() != "monoreel.cdnpush" {
		t.Errorf("Warm with no keys = %v (reason %q), want InvalidArgument INVALID_WARM_REQUEST from monoreel.cdnpush", err, grpcerr.Reason(err))
	}
	if err := proc.Terminate(t, 30*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestCacheWarmsThroughCdnpush: libs/cache, with the cdnpush Warmer as its
// warm-up hook, gets an updated key onto the edge.
func TestCacheWarmsThroughCdnpush(t *testing.T) {
	good := newEdge(t, http.StatusOK, 0)
	proc := testproc.StartService(t, testproc.Runfile(t, "CDNPUSH_BINARY"), "-jobs_file="+filepath.Join(t.TempDir(), "jobs.json"), "-edges="+good.URL)
	c, err := cache.New(cache.Options{
		Loader: func(context.Context, string) ([]byte, error) { return []byte("v"), nil },
		Warmer: client.NewWarmer(proc.Conn, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Update(context.Background(), "videos/7/cover.jpg", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !good.asked("/videos/7/cover.jpg") {
		if time.Now().After(deadline) {
			t.Fatal("the updated key never reached the edge")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestShadowWarmNeverReachesAnEdge: a shadow Warm is accepted and settles as a
// dry run; the edge gets no request, then a production Warm of the same key
// does reach it.
func TestShadowWarmNeverReachesAnEdge(t *testing.T) {
	good := newEdge(t, http.StatusOK, 0)
	proc := testproc.StartService(t, testproc.Runfile(t, "CDNPUSH_BINARY"), "-jobs_file="+filepath.Join(t.TempDir(), "jobs.json"), "-edges="+good.URL)
	svc := cdnpushv1.NewCDNPushServiceClient(proc.Conn)
	shadow := metadata.AppendToOutgoingContext(context.Background(), "x-shadow", "true")
	resp, err := svc.Warm(shadow, &cdnpushv1.WarmRequest{Keys: []string{"videos/9/master.m3u8"}})
	if err != nil || !resp.GetDryRun() {
		t.Fatalf("shadow Warm = %v, %v; want a dry run", resp, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := svc.Status(shadow, &cdnpushv1.StatusRequest{JobId: resp.GetJobId()})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetState() == cdnpushv1.JobState_JOB_STATE_DONE && st.GetDryRun() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shadow job still %v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if good.asked("/videos/9/master.m3u8") {
		t.Fatal("a shadow warm-up reached the edge")
	}
	if _, err := svc.Status(context.Background(), &cdnpushv1.StatusRequest{JobId: resp.GetJobId()}); status.Code(err) != codes.NotFound {
		t.Errorf("production's Status of the shadow job: %v, want NotFound", err)
	}
	if _, err := svc.Warm(context.Background(), &cdnpushv1.WarmRequest{Keys: []string{"videos/9/master.m3u8"}}); err != nil {
		t.Fatal(err)
	}
	for !good.asked("/videos/9/master.m3u8") {
		if time.Now().After(deadline) {
			t.Fatal("the production warm-up never reached the edge")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKilledServiceForgetsNoWarmUp: the real binary is killed (SIGKILL) while
// a warm-up waits on a slow edge; restarted on the same jobs file it reports
// the job and warms the pair it left pending.
func TestKilledServiceForgetsNoWarmUp(t *testing.T) {
	slow := newEdge(t, http.StatusOK, time.Second)
	args := []string{"-jobs_file=" + filepath.Join(t.TempDir(), "jobs.json"), "-edges=" + slow.URL}
	proc := testproc.StartService(t, testproc.Runfile(t, "CDNPUSH_BINARY"), args...)
	resp, err := cdnpushv1.NewCDNPushServiceClient(proc.Conn).Warm(context.Background(), &cdnpushv1.WarmRequest{Keys: []string{"videos/5/master.m3u8"}, IdempotencyKey: "publish-5"})
	if err != nil {
		t.Fatal(err)
	}
	proc.Stop() // SIGKILL, the edge's answer still on its way
	again := testproc.StartService(t, testproc.Runfile(t, "CDNPUSH_BINARY"), args...)
	svc := cdnpushv1.NewCDNPushServiceClient(again.Conn)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := svc.Status(context.Background(), &cdnpushv1.StatusRequest{JobId: resp.GetJobId()})
		if err != nil {
			t.Fatalf("the job after a restart: %v", err)
		}
		if st.GetState() == cdnpushv1.JobState_JOB_STATE_DONE {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job never finished after the restart: %v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if again, err := svc.Warm(context.Background(), &cdnpushv1.WarmRequest{Keys: []string{"videos/5/master.m3u8"}, IdempotencyKey: "publish-5"}); err != nil || !again.GetExisting() || again.GetJobId() != resp.GetJobId() {
		t.Errorf("the idempotency key after a restart: %v, %v; want job %s", again, err, resp.GetJobId())
	}
}
