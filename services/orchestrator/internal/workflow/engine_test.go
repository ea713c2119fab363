package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/mock/gomock"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/breaker"
	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/config/configtest"
	aitagv1 "github.com/monoreel/monoreel/proto/aitag/v1"
	aitagmock "github.com/monoreel/monoreel/proto/aitag/v1/mock"
	cdnpushv1 "github.com/monoreel/monoreel/proto/cdnpush/v1"
	cdnpushmock "github.com/monoreel/monoreel/proto/cdnpush/v1/mock"
	transcodev1 "github.com/monoreel/monoreel/proto/transcode/v1"
	transcodemock "github.com/monoreel/monoreel/proto/transcode/v1/mock"
)

// fixture is an engine on mocks of the three downstreams and a store: in
// memory, unless a test sets a real etcd.
type fixture struct {
	t         testing.TB
	store     config.Store
	source    string
	transcode *transcodemock.MockTranscodeServiceClient
	aitag     *aitagmock.MockAITagServiceClient
	cdnpush   *cdnpushmock.MockCDNPushServiceClient
}

func newFixture(t testing.TB) *fixture {
	ctrl := gomock.NewController(t)
	source := filepath.Join(t.TempDir(), "video.mp4")
	if err := os.WriteFile(source, []byte("not really a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, store: config.NewMemory(0), source: source,
		transcode: transcodemock.NewMockTranscodeServiceClient(ctrl),
		aitag:     aitagmock.NewMockAITagServiceClient(ctrl),
		cdnpush:   cdnpushmock.NewMockCDNPushServiceClient(ctrl)}
}

// engine starts an engine named instance; tweak adjusts its options.
func (f *fixture) engine(instance string, tweak func(*Options)) *Engine {
	opts := Options{Store: f.store, Instance: instance, Lease: 3 * time.Second,
		BaseBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 5 * time.Millisecond, CallTimeout: time.Second}
	if tweak != nil {
		tweak(&opts)
	}
	e, err := New(Clients{Transcode: f.transcode, AITag: f.aitag, CDNPush: f.cdnpush}, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(e.Stop)
	return e
}

var outputs = []string{"7/j1/master.m3u8", "7/j1/360p/index.m3u8", "7/j1/360p/seg_000.ts"}

// expectTranscode: Submit once, then the job runs for a poll and is done.
func (f *fixture) expectTranscode() {
	f.transcode.EXPECT().Submit(gomock.Any(), gomock.Any()).Return(&transcodev1.SubmitResponse{Job: &transcodev1.Job{Id: "j1", State: transcodev1.JobState_JOB_STATE_QUEUED}}, nil)
	gomock.InOrder(
		f.transcode.EXPECT().Get(gomock.Any(), gomock.Any()).Return(&transcodev1.GetResponse{Job: &transcodev1.Job{Id: "j1", State: transcodev1.JobState_JOB_STATE_RUNNING}}, nil),
		f.transcode.EXPECT().Get(gomock.Any(), gomock.Any()).Return(&transcodev1.GetResponse{Job: &transcodev1.Job{Id: "j1", State: transcodev1.JobState_JOB_STATE_DONE,
			MasterPlaylist: "/out/7/j1/master.m3u8", Outputs: outputs}}, nil),
	)
}

// expectTag: one Tag call, made with the colour want.
func (f *fixture) expectTag(want coloring.Color) *gomock.Call {
	return f.aitag.EXPECT().Tag(gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, req *aitagv1.TagRequest, _ ...any) (*aitagv1.TagResponse, error) {
		if got, _ := coloring.FromContext(ctx); got != want {
			f.t.Errorf("Tag called with colour %+v: want %+v", got, want)
		}
		return &aitagv1.TagResponse{Tags: []*aitagv1.Tag{{Name: "bright", Score: 0.9}}}, nil
	})
}

func (f *fixture) expectWarm() {
	f.cdnpush.EXPECT().Warm(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req *cdnpushv1.WarmRequest, _ ...any) (*cdnpushv1.WarmResponse, error) {
		if strings.Join(req.GetKeys(), ",") != strings.Join(outputs, ",") || req.GetIdempotencyKey() != "publish-7-j1" {
			f.t.Errorf("Warm(%v, key %q): want the transcode's outputs and publish-7-j1", req.GetKeys(), req.GetIdempotencyKey())
		}
		return &cdnpushv1.WarmResponse{JobId: "w1"}, nil
	})
	f.cdnpush.EXPECT().Status(gomock.Any(), gomock.Any()).Return(&cdnpushv1.StatusResponse{JobId: "w1", State: cdnpushv1.JobState_JOB_STATE_DONE}, nil)
}

// wait polls the stored workflow until it is no longer running.
func wait(t *testing.T, e *Engine, videoID int64) *Workflow {
	t.Helper()
	return waitIn(context.Background(), t, e, videoID)
}

// waitIn is wait for the traffic of ctx: shadow workflows are stored apart.
func waitIn(ctx context.Context, t *testing.T, e *Engine, videoID int64) *Workflow {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w, err := e.Get(ctx, videoID)
		if err == nil && w.State != Running {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow of video %d still running: %+v (%v)", videoID, w, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPublishRunsEveryStageOnceAndIsIdempotent(t *testing.T) {
	f := newFixture(t)
	colour := coloring.Color{Region: "eu-west-1", Shadow: true}
	f.expectTranscode()
	f.expectTag(colour)
	f.expectWarm()
	e := f.engine("a", nil)

	coloured := coloring.NewContext(context.Background(), colour)
	w, existing, err := e.Publish(coloured, 7, f.source, "Sunny beach", "waves")
	if err != nil || existing || w.State != Running {
		t.Fatalf("Publish: %+v, existing %v, %v", w, existing, err)
	}
	done := waitIn(coloured, t, e, 7)
	if _, err := e.Get(context.Background(), 7); !errors.Is(err, ErrNotFound) {
		t.Errorf("production's Get of the shadow workflow: %v, want ErrNotFound", err)
	}
	if done.State != Done || done.Err != "" || done.Master != "/out/7/j1/master.m3u8" || len(done.Tags) != 1 || done.WarmJob != "w1" {
		t.Fatalf("workflow %+v", done)
	}
	if done.Region != "eu-west-1" || !done.Shadow {
		t.Errorf("colour %q/%v not kept", done.Region, done.Shadow)
	}
	for _, s := range done.Stages {
		if s.State != Done || s.Started.IsZero() || s.Finished.Before(s.Started) || s.Retries != 0 {
			t.Errorf("stage %+v", s)
		}
	}
	again, existing, err := e.Publish(coloured, 7, f.source, "", "")
	if err != nil || !existing || again.State != Done {
		t.Fatalf("second Publish: %+v, existing %v, %v", again, existing, err)
	}
}

func TestTransientErrorsAreRetriedWithBackoff(t *testing.T) {
	f := newFixture(t)
	gomock.InOrder(
		f.transcode.EXPECT().Submit(gomock.Any(), gomock.Any()).Return(nil, status.Error(codes.Unavailable, "transcode restarting")).Times(2),
		f.transcode.EXPECT().Submit(gomock.Any(), gomock.Any()).Return(&transcodev1.SubmitResponse{Job: &transcodev1.Job{Id: "j1"}}, nil),
	)
	f.transcode.EXPECT().Get(gomock.Any(), gomock.Any()).Return(&transcodev1.GetResponse{Job: &transcodev1.Job{Id: "j1", State: transcodev1.JobState_JOB_STATE_DONE, Outputs: outputs}}, nil)
	f.expectTag(coloring.Color{})
	f.expectWarm()
	reg := prometheus.NewRegistry()
	e := f.engine("a", func(o *Options) { o.Registerer = reg })
	if _, _, err := e.Publish(context.Background(), 7, f.source, "", ""); err != nil {
		t.Fatal(err)
	}
	w := wait(t, e, 7)
	if w.State != Done || w.Stages[1].Retries != 2 || !strings.Contains(w.Stages[1].Err, "transcode restarting") {
		t.Fatalf("workflow %s, transcode stage %+v: want done after 2 retries, the last error kept", w.State, w.Stages[1])
	}
	// The metrics say the same: two retries, every stage timed once, and each
	// downstream's breaker has its states.
	if got := promtest.ToFloat64(e.metrics.retries.WithLabelValues(StageTranscode)); got != 2 {
		t.Errorf("workflow_stage_retries_total{stage=transcode} = %v, want 2", got)
	}
	if n, err := promtest.GatherAndCount(reg, "workflow_stage_duration_seconds"); err != nil || n != len(Stages) {
		t.Errorf("workflow_stage_duration_seconds has %d series (%v), want one per stage", n, err)
	}
	if n, err := promtest.GatherAndCount(reg, "breaker_state"); err != nil || n != 3*3 {
		t.Errorf("breaker_state has %d series (%v), want 3 states of 3 breakers", n, err)
	}
}

func TestPermanentErrorFailsTheWorkflowAndPublishResumesIt(t *testing.T) {
	f := newFixture(t)
	f.expectTranscode()
	gomock.InOrder(
		f.aitag.EXPECT().Tag(gomock.Any(), gomock.Any()).Return(nil, status.Error(codes.InvalidArgument, "source: not a video")),
		f.expectTag(coloring.Color{}),
	)
	f.expectWarm()
	e := f.engine("a", nil)
	if _, _, err := e.Publish(context.Background(), 7, f.source, "", ""); err != nil {
		t.Fatal(err)
	}
	w := wait(t, e, 7)
	if w.State != Failed || !strings.Contains(w.Err, "aitag: ") || !strings.Contains(w.Err, "not a video") ||
		w.Stages[1].State != Done || w.Stages[2].State != Failed || w.Stages[2].Retries != 0 || w.Stages[3].State != Pending {
		t.Fatalf("workflow %+v: want failed at aitag, not retried, with its reason", w)
	}
	// Publishing again starts from the failed stage: no second transcode.
	if _, existing, err := e.Publish(context.Background(), 7, "", "", ""); err != nil || !existing {
		t.Fatalf("Publish again: existing %v, %v", existing, err)
	}
	if w := wait(t, e, 7); w.State != Done || w.Err != "" {
		t.Fatalf("after Publish again: %+v", w)
	}
}

func TestInvalidPublish(t *testing.T) {
	f := newFixture(t)
	e := f.engine("a", nil)
	for _, tc := range []struct {
		id     int64
		source string
		want   string
	}{{0, f.source, "video id 0"}, {8, "", "no -videos_dir"}} {
		if _, _, err := e.Publish(context.Background(), tc.id, tc.source, "", ""); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Publish(%d, %q): %v, want ErrInvalid naming %q", tc.id, tc.source, err, tc.want)
		}
	}
	if _, err := e.Get(context.Background(), 9); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an unknown video: %v", err)
	}
	// An upload that is not there fails the first stage, naming the file.
	missing := filepath.Join(t.TempDir(), "nope")
	if _, _, err := e.Publish(context.Background(), 8, missing, "", ""); err != nil {
		t.Fatal(err)
	}
	if w := wait(t, e, 8); w.State != Failed || !strings.Contains(w.Err, "upload not complete") || !strings.Contains(w.Err, missing) {
		t.Errorf("workflow with no upload: %+v", w)
	}
}

func TestStageDeadline(t *testing.T) {
	f := newFixture(t)
	f.transcode.EXPECT().Submit(gomock.Any(), gomock.Any()).Return(&transcodev1.SubmitResponse{Job: &transcodev1.Job{Id: "j1"}}, nil)
	f.transcode.EXPECT().Get(gomock.Any(), gomock.Any()).Return(&transcodev1.GetResponse{Job: &transcodev1.Job{Id: "j1", State: transcodev1.JobState_JOB_STATE_RUNNING}}, nil).AnyTimes()
	e := f.engine("a", func(o *Options) { o.Deadlines = map[string]time.Duration{StageTranscode: 100 * time.Millisecond} })
	if _, _, err := e.Publish(context.Background(), 7, f.source, "", ""); err != nil {
		t.Fatal(err)
	}
	w := wait(t, e, 7)
	if w.State != Failed || !strings.Contains(w.Err, "transcode: stage deadline of 100ms exceeded") || !strings.Contains(w.Err, "waiting for transcode job j1") {
		t.Fatalf("workflow %+v: want the transcode stage's deadline named", w)
	}
}

// A breaker on a slow downstream opens (slow-call ratio), calls are then refused
// without reaching the downstream and retried with backoff, and once it is fast
// again a probe closes the breaker and the workflow completes.
func TestBreakerOpensOnSlowCallsAndRecovers(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var transitions []string
	rule := breaker.Rule{Strategy: breaker.SlowRatio, Threshold: 0.5, MaxRT: 20 * time.Millisecond, MinCalls: 2,
		Window: 10 * time.Second, Buckets: 10, OpenFor: 150 * time.Millisecond, Probes: 1}
	b, err := breaker.New(StageAITag, rule, breaker.OnStateChange(func(from, to breaker.State) {
		mu.Lock()
		transitions = append(transitions, to.String())
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	slow := true
	calls := 0
	f.aitag.EXPECT().Tag(gomock.Any(), gomock.Any()).AnyTimes().DoAndReturn(func(ctx context.Context, _ *aitagv1.TagRequest, _ ...any) (*aitagv1.TagResponse, error) {
		mu.Lock()
		calls++
		s := slow
		mu.Unlock()
		if s {
			time.Sleep(40 * time.Millisecond)
		}
		return &aitagv1.TagResponse{}, nil
	})
	f.transcode.EXPECT().Submit(gomock.Any(), gomock.Any()).AnyTimes().Return(&transcodev1.SubmitResponse{Job: &transcodev1.Job{Id: "j1"}}, nil)
	f.transcode.EXPECT().Get(gomock.Any(), gomock.Any()).AnyTimes().Return(&transcodev1.GetResponse{Job: &transcodev1.Job{Id: "j1", State: transcodev1.JobState_JOB_STATE_DONE, Outputs: outputs}}, nil)
	f.cdnpush.EXPECT().Warm(gomock.Any(), gomock.Any()).AnyTimes().Return(&cdnpushv1.WarmResponse{JobId: "w1"}, nil)
	f.cdnpush.EXPECT().Status(gomock.Any(), gomock.Any()).AnyTimes().Return(&cdnpushv1.StatusResponse{State: cdnpushv1.JobState_JOB_STATE_DONE}, nil)
	e := f.engine("a", func(o *Options) {
		o.Breakers = map[string]*breaker.Breaker{StageAITag: b}
		o.BaseBackoff, o.MaxBackoff, o.Attempts = 50*time.Millisecond, 100*time.Millisecond, 20
	})

	// Two slow (but successful) calls trip the breaker.
	for id := int64(1); id <= 2; id++ {
		if _, _, err := e.Publish(context.Background(), id, f.source, "", ""); err != nil {
			t.Fatal(err)
		}
		if w := wait(t, e, id); w.State != Done {
			t.Fatalf("video %d: %+v", id, w)
		}
	}
	if b.State() != breaker.Open {
		t.Fatalf("breaker %v after two slow calls: want open", b.State())
	}
	mu.Lock()
	slow, calls = false, 0
	mu.Unlock()
	if _, _, err := e.Publish(context.Background(), 3, f.source, "", ""); err != nil {
		t.Fatal(err)
	}
	w := wait(t, e, 3)
	mu.Lock()
	defer mu.Unlock()
	if w.State != Done || w.Stages[2].Retries < 1 || !strings.Contains(w.Stages[2].Err, "breaker aitag: open") {
		t.Fatalf("video 3: %s, aitag stage %+v: want done after the open breaker's refusals were retried", w.State, w.Stages[2])
	}
	if calls != 1 || b.State() != breaker.Closed || strings.Join(transitions, ",") != "open,half-open,closed" {
		t.Fatalf("%d calls reached aitag, breaker %v, transitions %v: want 1 probe, closed, open,half-open,closed", calls, b.State(), transitions)
	}
}

// An instance that stops mid-transcode releases the workflow; another resumes it
// without submitting the transcode again (it polls the job already submitted).
func TestAnotherInstanceResumesAStoppedOnesWorkflow(t *testing.T) {
	f := newFixture(t)
	running := make(chan struct{}, 1)
	f.transcode.EXPECT().Submit(gomock.Any(), gomock.Any()).Return(&transcodev1.SubmitResponse{Job: &transcodev1.Job{Id: "j1"}}, nil).Times(1)
	var finished atomic.Bool // the job is done once a has stopped
	f.transcode.EXPECT().Get(gomock.Any(), gomock.Any()).MinTimes(2).DoAndReturn(func(_ context.Context, req *transcodev1.GetRequest, _ ...any) (*transcodev1.GetResponse, error) {
		if finished.Load() {
			return &transcodev1.GetResponse{Job: &transcodev1.Job{Id: req.GetJobId(), State: transcodev1.JobState_JOB_STATE_DONE, Outputs: outputs}}, nil
		}
		select {
		case running <- struct{}{}:
		default:
		}
		return &transcodev1.GetResponse{Job: &transcodev1.Job{Id: req.GetJobId(), State: transcodev1.JobState_JOB_STATE_RUNNING}}, nil
	})
	f.expectTag(coloring.Color{})
	f.expectWarm()

	// The publish is traced: a's run of it continues the trace, b's links to it.
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	ctx, publish := otel.Tracer("test").Start(context.Background(), "publish")
	a := f.engine("a", nil)
	if _, _, err := a.Publish(ctx, 7, f.source, "", ""); err != nil {
		t.Fatal(err)
	}
	publish.End()
	<-running
	a.Stop()
	finished.Store(true)
	stored, err := a.Get(context.Background(), 7)
	if err != nil || stored.State != Running || stored.Owner != "a" || !stored.LeaseUntil.IsZero() || stored.TranscodeJob != "j1" {
		t.Fatalf("after a stopped: %+v, %v: want running, job j1, lease released", stored, err)
	}

	b := f.engine("b", nil)
	if n, err := b.Resume(context.Background()); n != 1 || err != nil {
		t.Fatalf("b.Resume: took %d, %v", n, err)
	}
	if w := wait(t, b, 7); w.State != Done || w.Owner != "b" {
		t.Fatalf("after b resumed: %+v", w)
	}
	b.Stop()
	var continued, linked bool
	for _, s := range rec.Ended() {
		switch s.Name() {
		case "workflow":
			continued = s.Parent().SpanID() == publish.SpanContext().SpanID()
		case "workflow (resumed)":
			linked = len(s.Links()) == 1 && s.Links()[0].SpanContext.SpanID() == publish.SpanContext().SpanID() &&
				s.SpanContext().TraceID() != publish.SpanContext().TraceID()
		}
	}
	if !continued || !linked {
		t.Errorf("a's run a child of the publish: %v; b's a trace of its own linked to it: %v", continued, linked)
	}
}

// A workflow whose owner died (lease run out) is taken over; one whose owner
// renews its lease is left alone; a restarted instance resumes its own at once.
func TestResumeTakesOnlyOrphanedOrOwnWorkflows(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	put := func(id int64, owner string, lease time.Time) {
		w := newWorkflow(id, f.source, "", "", now)
		w.Stages[0].State, w.Stages[1].State = Done, Done
		w.TranscodeJob, w.Outputs, w.Owner, w.LeaseUntil = "j1", outputs, owner, lease
		data, _ := json.Marshal(w)
		if _, err := f.store.Put(context.Background(), "state/orchestrator/workflows/"+strconv.FormatInt(id, 10), data); err != nil {
			t.Fatal(err)
		}
	}
	put(1, "dead", now.Add(-time.Second))
	put(2, "alive", now.Add(time.Hour))
	put(3, "b", now.Add(time.Hour))
	f.aitag.EXPECT().Tag(gomock.Any(), gomock.Any()).Return(&aitagv1.TagResponse{}, nil).Times(2)
	f.cdnpush.EXPECT().Warm(gomock.Any(), gomock.Any()).Return(&cdnpushv1.WarmResponse{JobId: "w1"}, nil).Times(2)
	f.cdnpush.EXPECT().Status(gomock.Any(), gomock.Any()).Return(&cdnpushv1.StatusResponse{State: cdnpushv1.JobState_JOB_STATE_DONE}, nil).Times(2)

	b := f.engine("b", nil)
	if n, err := b.Resume(context.Background()); n != 2 || err != nil {
		t.Fatalf("Resume took %d, %v: want workflows 1 and 3", n, err)
	}
	for _, id := range []int64{1, 3} {
		if w := wait(t, b, id); w.State != Done || w.Stages[1].Started != (time.Time{}) && w.Stages[1].State != Done {
			t.Errorf("workflow %d: %+v", id, w)
		}
	}
	if w, _ := b.Get(context.Background(), 2); w.State != Running || w.Owner != "alive" {
		t.Errorf("workflow 2, leased by a live instance: %+v", w)
	}
}

func TestFollowRulesAppliesBreakerRulesFromConfig(t *testing.T) {
	f := newFixture(t)
	e := f.engine("a", nil)
	cfg, err := config.Open(context.Background(), f.store, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	initial := e.Breakers()[StageCDNPush].Rule()
	go FollowRules(ctx, cfg, "orchestrator/breaker/", e.Breakers(), slogDiscard())

	put := func(key, value string) {
		if _, err := f.store.Put(ctx, key, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: rule is %+v", what, e.Breakers()[StageCDNPush].Rule())
			}
		}
	}
	put("orchestrator/breaker/cdnpush", `{"strategy":"error-ratio","threshold":0.3,"min_calls":5,"window":"20s","buckets":20,"open_for":"2s","probes":2}`)
	eventually("new rule", func() bool {
		r := e.Breakers()[StageCDNPush].Rule()
		return r.Strategy == breaker.ErrorRatio && r.Threshold == 0.3
	})
	put("orchestrator/breaker/cdnpush", `{"strategy":"slow-ratio","threshold":7}`)
	put("orchestrator/breaker/aitag", `{"strategy":"error-count","threshold":3,"min_calls":1,"window":"1s","buckets":1,"open_for":"1s","probes":1}`)
	eventually("aitag's rule", func() bool { return e.Breakers()[StageAITag].Rule().Strategy == breaker.ErrorCount })
	if r := e.Breakers()[StageCDNPush].Rule(); r.Strategy != breaker.ErrorRatio {
		t.Fatalf("an invalid rule replaced cdnpush's: %+v", r)
	}
	if _, err := f.store.Delete(ctx, "orchestrator/breaker/cdnpush"); err != nil {
		t.Fatal(err)
	}
	eventually("rule deleted", func() bool { return e.Breakers()[StageCDNPush].Rule() == initial })
}

func slogDiscard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A transcode service that restarted and forgot the job gets it again; a warm-up
// with a failed edge fails the workflow, naming the key and the edge.
func TestLostJobIsResubmittedAndFailedWarmUpIsNamed(t *testing.T) {
	f := newFixture(t)
	gomock.InOrder(
		f.transcode.EXPECT().Submit(gomock.Any(), gomock.Any()).Return(&transcodev1.SubmitResponse{Job: &transcodev1.Job{Id: "j1"}}, nil),
		f.transcode.EXPECT().Get(gomock.Any(), &transcodev1.GetRequest{JobId: "j1"}).Return(nil, status.Error(codes.NotFound, "no such job")),
		f.transcode.EXPECT().Submit(gomock.Any(), gomock.Any()).Return(&transcodev1.SubmitResponse{Job: &transcodev1.Job{Id: "j2"}}, nil),
		f.transcode.EXPECT().Get(gomock.Any(), &transcodev1.GetRequest{JobId: "j2"}).Return(&transcodev1.GetResponse{Job: &transcodev1.Job{Id: "j2", State: transcodev1.JobState_JOB_STATE_DONE, Outputs: outputs}}, nil),
	)
	f.expectTag(coloring.Color{})
	f.cdnpush.EXPECT().Warm(gomock.Any(), gomock.Any()).Return(&cdnpushv1.WarmResponse{JobId: "w1"}, nil)
	f.cdnpush.EXPECT().Status(gomock.Any(), gomock.Any()).Return(&cdnpushv1.StatusResponse{JobId: "w1", State: cdnpushv1.JobState_JOB_STATE_FAILED,
		Pairs: []*cdnpushv1.PairStatus{{Key: outputs[0], Edge: "http://edge-1", State: cdnpushv1.PairState_PAIR_STATE_FAILED, Error: "503 Service Unavailable"}}}, nil)
	e := f.engine("a", nil)
	if _, _, err := e.Publish(context.Background(), 7, f.source, "", ""); err != nil {
		t.Fatal(err)
	}
	w := wait(t, e, 7)
	if w.TranscodeJob != "j2" || w.Stages[1].State != Done {
		t.Errorf("transcode: job %q, stage %+v: want j2, done", w.TranscodeJob, w.Stages[1])
	}
	want := "cdnpush: warm-up job w1 failed: " + outputs[0] + " on http://edge-1: 503 Service Unavailable"
	if w.State != Failed || w.Err != want {
		t.Errorf("workflow %s, error %q: want failed, %q", w.State, w.Err, want)
	}
}

// BenchmarkWorkflow measures the engine's own cost per published video: four
// stages on instant mocks, every transition saved to the in-memory store.
func BenchmarkWorkflow(b *testing.B) {
	f := newFixture(b)
	f.transcode.EXPECT().Submit(gomock.Any(), gomock.Any()).AnyTimes().Return(&transcodev1.SubmitResponse{Job: &transcodev1.Job{Id: "j1"}}, nil)
	f.transcode.EXPECT().Get(gomock.Any(), gomock.Any()).AnyTimes().Return(&transcodev1.GetResponse{Job: &transcodev1.Job{Id: "j1", State: transcodev1.JobState_JOB_STATE_DONE, Outputs: outputs}}, nil)
	f.aitag.EXPECT().Tag(gomock.Any(), gomock.Any()).AnyTimes().Return(&aitagv1.TagResponse{}, nil)
	f.cdnpush.EXPECT().Warm(gomock.Any(), gomock.Any()).AnyTimes().Return(&cdnpushv1.WarmResponse{JobId: "w1"}, nil)
	f.cdnpush.EXPECT().Status(gomock.Any(), gomock.Any()).AnyTimes().Return(&cdnpushv1.StatusResponse{State: cdnpushv1.JobState_JOB_STATE_DONE}, nil)
	e := f.engine("a", nil)
	done := make(chan struct{}, 1)
	e.changed = func(w *Workflow) { // the store write that ends the workflow
		if w.State == Done {
			done <- struct{}{}
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := e.Publish(context.Background(), int64(i+1), f.source, "", ""); err != nil {
			b.Fatal(err)
		}
		<-done
	}
}

// TestRacingInstancesTakeAnOrphanOnce: two instances find the same orphaned
// workflow at once, 100 times over: exactly one takes it over each time (the
// store's compare-and-put decides), and the transcode service sees exactly one
// job per video.
func TestRacingInstancesTakeAnOrphanOnce(t *testing.T) {
	f := newFixture(t)
	f.store = configtest.Etcd(t)
	var submits sync.Map // video id -> *atomic.Int32
	f.transcode.EXPECT().Submit(gomock.Any(), gomock.Any()).AnyTimes().DoAndReturn(
		func(_ context.Context, req *transcodev1.SubmitRequest, _ ...any) (*transcodev1.SubmitResponse, error) {
			n, _ := submits.LoadOrStore(req.GetVideoId().GetValue(), new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			return &transcodev1.SubmitResponse{Job: &transcodev1.Job{Id: "j1", State: transcodev1.JobState_JOB_STATE_QUEUED}}, nil
		})
	f.transcode.EXPECT().Get(gomock.Any(), gomock.Any()).AnyTimes().Return(&transcodev1.GetResponse{Job: &transcodev1.Job{
		Id: "j1", State: transcodev1.JobState_JOB_STATE_DONE, MasterPlaylist: "/out/m.m3u8", Outputs: outputs}}, nil)
	f.aitag.EXPECT().Tag(gomock.Any(), gomock.Any()).AnyTimes().Return(&aitagv1.TagResponse{}, nil)
	f.cdnpush.EXPECT().Warm(gomock.Any(), gomock.Any()).AnyTimes().Return(&cdnpushv1.WarmResponse{JobId: "w1"}, nil)
	f.cdnpush.EXPECT().Status(gomock.Any(), gomock.Any()).AnyTimes().Return(&cdnpushv1.StatusResponse{State: cdnpushv1.JobState_JOB_STATE_DONE}, nil)
	// Long leases and no Follow: only the Resume calls below take anything.
	a := f.engine("a", func(o *Options) { o.Lease = time.Hour })
	b := f.engine("b", func(o *Options) { o.Lease = time.Hour })

	for id := int64(1); id <= 100; id++ {
		w := newWorkflow(id, f.source, "", "", time.Now())
		w.Stages[0].State = Done
		w.Owner, w.LeaseUntil = "dead", time.Now().Add(-time.Second)
		data, _ := json.Marshal(w)
		if _, err := f.store.Put(context.Background(), "state/orchestrator/workflows/"+strconv.FormatInt(id, 10), data); err != nil {
			t.Fatal(err)
		}
		var taken [2]int
		var wg sync.WaitGroup
		for i, e := range []*Engine{a, b} {
			wg.Go(func() { taken[i], _ = e.Resume(context.Background()) })
		}
		wg.Wait()
		if taken[0]+taken[1] != 1 {
			t.Fatalf("video %d: a took %d, b took %d: want exactly one taker", id, taken[0], taken[1])
		}
		winner := map[bool]*Engine{true: a, false: b}[taken[0] == 1]
		if done := wait(t, winner, id); done.State != Done {
			t.Fatalf("video %d: %+v", id, done)
		}
	}
	submits.Range(func(id, n any) bool {
		if got := n.(*atomic.Int32).Load(); got != 1 {
			t.Errorf("video %d: %d transcode jobs, want 1", id, got)
		}
		return true
	})
}

// TestCutOffFromTheStoreStopsBeforeTheLeaseEnds: an instance that cannot
// renew its lease (its etcd is gone: a partition) stops running the workflow
// before the lease it last saved runs out, when another instance may take it
// over, and calls no downstream after.
func TestCutOffFromTheStoreStopsBeforeTheLeaseEnds(t *testing.T) {
	f := newFixture(t)
	etcd, proc := configtest.StartEtcdProcess(t)
	store, err := config.NewEtcd([]string{etcd}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f.store = store
	var polls atomic.Int32
	f.transcode.EXPECT().Submit(gomock.Any(), gomock.Any()).Return(&transcodev1.SubmitResponse{Job: &transcodev1.Job{Id: "j1"}}, nil)
	f.transcode.EXPECT().Get(gomock.Any(), gomock.Any()).AnyTimes().DoAndReturn(func(_ context.Context, req *transcodev1.GetRequest, _ ...any) (*transcodev1.GetResponse, error) {
		polls.Add(1)
		return &transcodev1.GetResponse{Job: &transcodev1.Job{Id: req.GetJobId(), State: transcodev1.JobState_JOB_STATE_RUNNING}}, nil
	})
	const lease = 3 * time.Second
	a := f.engine("a", func(o *Options) { o.Lease = lease })
	if _, _, err := a.Publish(context.Background(), 7, f.source, "", ""); err != nil {
		t.Fatal(err)
	}
	for polls.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cut := time.Now() // every lease a saved ends by cut + lease
	proc.Stop()
	for running := 1; running > 0; {
		if time.Since(cut) > lease {
			t.Fatalf("still running the workflow %v after its store went away: past its lease", time.Since(cut).Round(time.Millisecond))
		}
		time.Sleep(10 * time.Millisecond)
		a.mu.Lock()
		running = len(a.running)
		a.mu.Unlock()
	}
	stopped := time.Since(cut)
	after := polls.Load()
	time.Sleep(300 * time.Millisecond)
	if polls.Load() != after {
		t.Errorf("%d polls of the transcode job after the run stopped", polls.Load()-after)
	}
	t.Logf("stopped %v after the store went away (lease %v)", stopped.Round(time.Millisecond), lease)
}

// TestPruneRemovesOnlyOldFinishedWorkflows: a workflow that ended more than
// the retention ago is removed; a recent one and a running one are kept.
func TestPruneRemovesOnlyOldFinishedWorkflows(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	put := func(id int64, state State, finished time.Time) {
		w := newWorkflow(id, f.source, "", "", now.Add(-30*24*time.Hour))
		w.State, w.Finished = state, finished
		data, _ := json.Marshal(w)
		if _, err := f.store.Put(context.Background(), "state/orchestrator/workflows/"+strconv.FormatInt(id, 10), data); err != nil {
			t.Fatal(err)
		}
	}
	put(1, Done, now.Add(-8*24*time.Hour))
	put(2, Failed, now.Add(-8*24*time.Hour))
	put(3, Done, now.Add(-time.Hour))
	put(4, Running, time.Time{})
	e := f.engine("a", func(o *Options) { o.Retention = 7 * 24 * time.Hour; o.Lease = time.Hour })
	if n, err := e.Prune(context.Background()); n != 2 || err != nil {
		t.Fatalf("Prune = %d, %v; want the 2 old finished workflows", n, err)
	}
	for id, kept := range map[int64]bool{1: false, 2: false, 3: true, 4: true} {
		if _, err := e.Get(context.Background(), id); (err == nil) != kept {
			t.Errorf("workflow %d: Get = %v, want kept %v", id, err, kept)
		}
	}
}
