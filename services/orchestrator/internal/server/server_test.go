package server

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/cache"
	"github.com/monoreel/monoreel/libs/config"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
	orchestratorv1 "github.com/monoreel/monoreel/proto/orchestrator/v1"
	"github.com/monoreel/monoreel/services/orchestrator/internal/workflow"
)

// countingStore counts the reads of one key.
type countingStore struct {
	config.Store
	gets atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, key string) (config.KV, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, key)
}

// cached is a Server on an engine whose store counts reads, with a workflow of
// video 7 in the store, and a function that saves it with another title.
func cached(t testing.TB) (*Server, *countingStore, func(title string)) {
	t.Helper()
	store := &countingStore{Store: config.NewMemory(0)}
	var c *cache.Cache
	engine, err := workflow.New(workflow.Clients{}, workflow.Options{Store: store, Instance: "test", Lease: time.Hour,
		OnSave: func(w *workflow.Workflow) { c.Invalidate(context.Background(), CacheKey(w.Shadow, w.VideoID)) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Stop)
	if c, err = NewCache(engine, cache.Options{L1TTL: time.Minute, DoubleDeleteDelay: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	save := func(title string) {
		data, _ := json.Marshal(&workflow.Workflow{VideoID: 7, Title: title, State: workflow.Done,
			Stages: []workflow.Stage{{Name: workflow.StageUpload}, {Name: workflow.StageTranscode}, {Name: workflow.StageAITag}, {Name: workflow.StageCDNPush}}})
		if _, err := store.Put(context.Background(), "state/orchestrator/workflows/"+strconv.Itoa(7), data); err != nil {
			t.Fatal(err)
		}
		c.Invalidate(context.Background(), CacheKey(false, 7))
		time.Sleep(10 * time.Millisecond) // past the delayed second delete
	}
	save("first")
	return New(engine, c), store, save
}

// TestGetWorkflowReadsThroughTheCache: polls of a workflow are answered from
// the cache, one store read for many; a save makes the next poll read the new
// state.
func TestGetWorkflowReadsThroughTheCache(t *testing.T) {
	srv, store, save := cached(t)
	get := func() string {
		resp, err := srv.GetWorkflow(context.Background(), &orchestratorv1.GetWorkflowRequest{VideoId: &commonv1.VideoId{Value: 7}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetWorkflow().GetTitle()
	}
	for range 100 {
		if got := get(); got != "first" {
			t.Fatalf("title %q", got)
		}
	}
	if n := store.gets.Load(); n != 1 {
		t.Errorf("100 polls read the store %d times, want 1", n)
	}
	save("second")
	if got := get(); got != "second" {
		t.Errorf("after a save the poll shows %q, want second", got)
	}
}

// BenchmarkGetWorkflowCached: GetWorkflow polls of one workflow saved every
// 100 polls (a running workflow's pace); reports the store reads per poll and
// the hit ratio.
func BenchmarkGetWorkflowCached(b *testing.B) {
	srv, store, save := cached(b)
	req := &orchestratorv1.GetWorkflowRequest{VideoId: &commonv1.VideoId{Value: 7}}
	for i := 0; b.Loop(); i++ {
		if i%100 == 99 {
			b.StopTimer()
			save("again")
			b.StartTimer()
		}
		if _, err := srv.GetWorkflow(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	reads := float64(store.gets.Load()) / float64(b.N)
	b.ReportMetric(reads, "store-reads/op")
	b.ReportMetric(1-reads, "hit-ratio")
}
