package warm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// edge is a real HTTP server on loopback standing in for an edge cache: it
// records what it was asked for and answers as behave says.
type edge struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

func newEdge(t *testing.T, behave func(n int, w http.ResponseWriter)) *edge {
	e := &edge{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := e.inFlight.Add(1)
		defer e.inFlight.Add(-1)
		for {
			seen := e.maxSeen.Load()
			if now <= seen || e.maxSeen.CompareAndSwap(seen, now) {
				break
			}
		}
		if r.Header.Get("X-Monoreel-Prefetch") != "1" {
			t.Errorf("request without the prefetch header: %v", r.Header)
		}
		e.mu.Lock()
		e.requests = append(e.requests, r.URL.Path)
		n := len(e.requests)
		e.mu.Unlock()
		behave(n, w)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *edge) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.requests)
}

func ok(_ int, w http.ResponseWriter) { w.Write([]byte("segment bytes")) }

func waitSettled(t *testing.T, e *Engine, id string) Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, found := e.Job(id)
		if !found {
			t.Fatalf("job %s not found", id)
		}
		if settled, _ := j.Settled(); settled {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not settled: %+v", j)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWarmsEveryKeyOnEveryEdgeWithBoundedConcurrency(t *testing.T) {
	slow := newEdge(t, func(_ int, w http.ResponseWriter) { time.Sleep(20 * time.Millisecond); w.Write([]byte("x")) })
	fast := newEdge(t, ok)
	e := New(Options{Concurrency: 3})
	keys := []string{"v/1/a.ts", "v/1/b.ts", "v/1/c.ts", "v/1/d.ts", "v/1/a.ts"}
	id, existing, already, err := e.Start(context.Background(), keys, []string{slow.URL, fast.URL + "/"}, "req-1")
	if err != nil || existing || already != 0 {
		t.Fatalf("Start = %v, %v, %v", existing, already, err)
	}
	j := waitSettled(t, e, id)
	if settled, failed := j.Settled(); !settled || failed || len(j.Pairs) != 8 {
		t.Fatalf("job %+v: want 8 warm pairs (4 distinct keys x 2 edges)", j)
	}
	if slow.count() != 4 || fast.count() != 4 {
		t.Errorf("requests: slow %d, fast %d; want 4 each", slow.count(), fast.count())
	}
	if got := slow.maxSeen.Load() + fast.maxSeen.Load(); got > 3*2 || slow.maxSeen.Load() > 3 {
		t.Errorf("up to %d requests at once on the slow edge, limit 3", slow.maxSeen.Load())
	}

	// The same idempotency key: the same job, nothing new sent.
	again, existing, _, err := e.Start(context.Background(), keys, []string{slow.URL}, "req-1")
	if err != nil || !existing || again != id {
		t.Errorf("retried Warm = %s, %v, %v; want job %s", again, existing, err, id)
	}
	// Another request for pairs warm already: skipped.
	other, _, already, err := e.Start(context.Background(), []string{"v/1/a.ts", "v/1/e.ts"}, []string{fast.URL + "/"}, "req-2")
	if err != nil || already != 1 {
		t.Fatalf("second request: already %d, %v; want 1", already, err)
	}
	waitSettled(t, e, other)
	if fast.count() != 5 {
		t.Errorf("fast edge got %d requests, want 5 (e.ts only)", fast.count())
	}
}

// TestRetriesThenFails: a 503 is retried with backoff until it succeeds; a 404
// is final; an edge that always fails ends as failed after Attempts tries.
func TestRetriesThenFails(t *testing.T) {
	flaky := newEdge(t, func(n int, w http.ResponseWriter) {
		if n < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	})
	missing := newEdge(t, func(_ int, w http.ResponseWriter) { http.NotFound(w, nil) })
	down := newEdge(t, func(_ int, w http.ResponseWriter) { http.Error(w, "down", http.StatusBadGateway) })
	e := New(Options{Attempts: 3, BaseBackoff: time.Millisecond})

	id, _, _, _ := e.Start(context.Background(), []string{"k"}, []string{flaky.URL}, "")
	if j := waitSettled(t, e, id); j.Pairs[0].State != Warm || j.Pairs[0].Attempts != 3 {
		t.Errorf("flaky edge: %+v, want warm after 3 attempts", j.Pairs[0])
	}
	id, _, _, _ = e.Start(context.Background(), []string{"k"}, []string{missing.URL}, "")
	if j := waitSettled(t, e, id); j.Pairs[0].State != Failed || j.Pairs[0].Attempts != 1 || !strings.Contains(j.Pairs[0].Err, "404") {
		t.Errorf("missing object: %+v, want failed after 1 attempt naming 404", j.Pairs[0])
	}
	id, _, _, _ = e.Start(context.Background(), []string{"k"}, []string{down.URL}, "")
	j := waitSettled(t, e, id)
	if _, failed := j.Settled(); !failed || j.Pairs[0].Attempts != 3 || !strings.Contains(j.Pairs[0].Err, "502") {
		t.Errorf("down edge: %+v, want failed after 3 attempts naming 502", j.Pairs[0])
	}
}

func TestSlowEdgeTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hung := newEdge(t, func(_ int, w http.ResponseWriter) { <-release })
	e := New(Options{Attempts: 2, BaseBackoff: time.Millisecond, Timeout: 50 * time.Millisecond})
	id, _, _, _ := e.Start(context.Background(), []string{"k"}, []string{hung.URL}, "")
	j := waitSettled(t, e, id)
	if j.Pairs[0].State != Failed || j.Pairs[0].Attempts != 2 || !strings.Contains(j.Pairs[0].Err, "deadline exceeded") {
		t.Errorf("hung edge: %+v", j.Pairs[0])
	}
}

func TestInvalidRequests(t *testing.T) {
	e := New(Options{})
	for _, tc := range []struct {
		keys, edges []string
		want        string
	}{
		{nil, []string{"http://e"}, "no keys"},
		{[]string{"k"}, nil, "no edges"},
		{[]string{"/abs"}, []string{"http://e"}, `key "/abs"`},
		{[]string{"a/../b"}, []string{"http://e"}, `key "a/../b"`},
		{[]string{"k"}, []string{"ftp://e"}, `edge "ftp://e"`},
	} {
		_, _, _, err := e.Start(context.Background(), tc.keys, tc.edges, "")
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start(%v, %v) = %v, want %q", tc.keys, tc.edges, err, tc.want)
		}
	}
}

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	e := New(Options{BaseBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	distinct := map[time.Duration]bool{}
	for range 100 {
		d := e.backoff(10)
		if d < 0 || d > 50*time.Millisecond {
			t.Fatalf("backoff %v outside [0, cap]", d)
		}
		distinct[d] = true
	}
	if len(distinct) < 10 {
		t.Errorf("only %d distinct waits in 100: not jittered", len(distinct))
	}
}

func TestForgetsOldJobs(t *testing.T) {
	edge := newEdge(t, ok)
	e := New(Options{KeepJobs: 2})
	first, _, _, _ := e.Start(context.Background(), []string{"a"}, []string{edge.URL}, "one")
	e.Start(context.Background(), []string{"b"}, []string{edge.URL}, "two")
	e.Start(context.Background(), []string{"c"}, []string{edge.URL}, "three")
	if _, found := e.Job(first); found {
		t.Error("the oldest job is still kept beyond KeepJobs")
	}
	if _, existing, _, _ := e.Start(context.Background(), []string{"a"}, []string{edge.URL}, "one"); existing {
		t.Error("a forgotten job's idempotency key still maps to it")
	}
}

// FuzzOpenJournal: no journal makes Open panic; a damaged one is an error naming
// the file.
func FuzzOpenJournal(f *testing.F) {
	f.Add([]byte(`[{"ID":"a","IdemKey":"k","Pairs":[{"Key":"x","Edge":"http://e","State":1}]}]`))
	f.Add([]byte(`[{"ID":"a","Pairs":[{"State":9}]}]`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		journal := filepath.Join(t.TempDir(), "jobs.json")
		if err := os.WriteFile(journal, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(Options{Journal: journal}); err != nil && !strings.Contains(err.Error(), journal) {
			t.Fatalf("error %v does not name the journal", err)
		}
	})
}
