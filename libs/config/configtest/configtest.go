// Package configtest is what tests of config stores share: the contract every
// config.Store meets (run against the in-memory, file, etcd and gRPC stores), a
// real etcd on loopback, and the Put-to-watch latency benchmark.
package configtest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/config"
	"github.com/monoreel/monoreel/libs/testproc"
)

// StartEtcd runs a real single-node etcd (Debian's etcd-server) on loopback until
// the test ends, and returns its client address.
func StartEtcd(t testing.TB) string {
	t.Helper()
	addr, _ := StartEtcdProcess(t)
	return addr
}

// StartEtcdProcess is StartEtcd, also returning the process: for tests that
// cut a service off from etcd by stopping it.
func StartEtcdProcess(t testing.TB) (string, *testproc.Process) {
	t.Helper()
	dir := t.TempDir()
	p, client, err := testproc.LaunchEtcd(testproc.Binary(t, "etcd", "etcd-server"), filepath.Join(dir, "etcd"), filepath.Join(dir, "etcd.log"))
	if p != nil {
		t.Cleanup(p.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return client, p
}

// Etcd returns a store on a real etcd started for the test.
func Etcd(t testing.TB) *config.Etcd {
	store, err := config.NewEtcd([]string{StartEtcd(t)}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// Ctx is a context that ends with the test (or after 20 s).
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// MustPut puts a key and returns the new revision.
func MustPut(t testing.TB, s config.Store, key, value string) int64 {
	t.Helper()
	rev, err := s.Put(Ctx(t), key, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// Next returns the next event of a watch, failing the test if none comes in 10 s.
func Next(t testing.TB, events <-chan config.Event) config.Event {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("watch closed")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	panic("unreachable")
}

// Contract checks what every config.Store promises: revisions, Get, List, Delete,
// ErrNotFound, and watches that deliver changes in order and resume from a past
// revision. s must be empty.
func Contract(t *testing.T, s config.Store) {
	ctx := Ctx(t)
	r1 := MustPut(t, s, "ratelimit/normal/qps", "5")
	r2 := MustPut(t, s, "ratelimit/vip/qps", "20")
	MustPut(t, s, "breaker/aitag/max_rt", "800ms")
	if r2 <= r1 {
		t.Errorf("revisions %d then %d", r1, r2)
	}
	kv, err := s.Get(ctx, "ratelimit/vip/qps")
	if err != nil || string(kv.Value) != "20" || kv.Revision != r2 {
		t.Errorf("Get = %+v, %v", kv, err)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, config.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	list, rev, err := s.List(ctx, "ratelimit/")
	if err != nil || len(list) != 2 || list[0].Key != "ratelimit/normal/qps" || rev < r2 {
		t.Errorf("List = %+v, %d, %v", list, rev, err)
	}

	events, _ := s.Watch(ctx, "ratelimit/", 0)
	time.Sleep(100 * time.Millisecond) // let the watch start: it delivers from "now"
	r4 := MustPut(t, s, "ratelimit/robot/qps", "2")
	MustPut(t, s, "unrelated", "x")
	r6, err := s.Delete(ctx, "ratelimit/normal/qps")
	if err != nil {
		t.Fatal(err)
	}
	if e := Next(t, events); e.Type != config.Put || e.KV.Key != "ratelimit/robot/qps" || e.KV.Revision != r4 || string(e.KV.Value) != "2" {
		t.Errorf("first event %+v", e)
	}
	if e := Next(t, events); e.Type != config.Delete || e.KV.Key != "ratelimit/normal/qps" || e.KV.Revision != r6 {
		t.Errorf("second event %+v", e)
	}
	if _, err := s.Delete(ctx, "ratelimit/normal/qps"); !errors.Is(err, config.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}

	// A watch resumes from a past revision: it replays what came after.
	replay, _ := s.Watch(ctx, "ratelimit/", r4)
	if e := Next(t, replay); e.KV.Revision != r4 {
		t.Errorf("replay starts at %+v, want revision %d", e, r4)
	}
	if e := Next(t, replay); e.KV.Revision != r6 {
		t.Errorf("replay continues with %+v, want revision %d", e, r6)
	}

	compareAndPut(t, s)
}

// compareAndPut is the CompareAndPut part of the contract: create only if
// absent, update only at the revision read, a loser changes nothing, and of
// writers racing from one revision exactly one wins.
func compareAndPut(t *testing.T, s config.Store) {
	ctx := Ctx(t)
	created, err := s.CompareAndPut(ctx, "lease/job-1", []byte("a"), 0)
	if err != nil {
		t.Fatalf("CompareAndPut of an absent key at 0: %v", err)
	}
	if _, err := s.CompareAndPut(ctx, "lease/job-1", []byte("b"), 0); !errors.Is(err, config.ErrConflict) {
		t.Errorf("CompareAndPut at 0 of a key that exists = %v, want ErrConflict", err)
	}
	updated, err := s.CompareAndPut(ctx, "lease/job-1", []byte("c"), created)
	if err != nil || updated <= created {
		t.Fatalf("CompareAndPut at the key's revision = %d, %v", updated, err)
	}
	if _, err := s.CompareAndPut(ctx, "lease/job-1", []byte("d"), created); !errors.Is(err, config.ErrConflict) {
		t.Errorf("CompareAndPut at a stale revision = %v, want ErrConflict", err)
	}
	if _, err := s.CompareAndPut(ctx, "lease/none", []byte("e"), updated); !errors.Is(err, config.ErrConflict) {
		t.Errorf("CompareAndPut of an absent key at a revision = %v, want ErrConflict", err)
	}
	if kv, err := s.Get(ctx, "lease/job-1"); err != nil || string(kv.Value) != "c" || kv.Revision != updated {
		t.Errorf("after the conflicts: %+v, %v; want c at %d", kv, err, updated)
	}

	const racers = 8
	wins := make(chan int64, racers)
	errs := make(chan error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			rev, err := s.CompareAndPut(ctx, "lease/job-1", []byte(fmt.Sprint("racer ", i)), updated)
			if err != nil {
				errs <- err
				return
			}
			wins <- rev
		})
	}
	wg.Wait()
	close(wins)
	close(errs)
	if len(wins) != 1 {
		t.Errorf("%d of %d racers won from one revision, want exactly 1", len(wins), racers)
	}
	for err := range errs {
		if !errors.Is(err, config.ErrConflict) {
			t.Errorf("a losing racer: %v, want ErrConflict", err)
		}
	}
}

// PutToWatch measures the time from a Put to a watcher of s receiving it, and
// reports its p50 and p99.
func PutToWatch(b *testing.B, s config.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := s.Watch(ctx, "bench/", 0)
	time.Sleep(100 * time.Millisecond)
	var latencies []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := s.Put(ctx, "bench/key", []byte("v")); err != nil {
			b.Fatal(err)
		}
		<-events
		latencies = append(latencies, time.Since(start))
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	b.ReportMetric(float64(latencies[len(latencies)/2])/1e3, "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100])/1e3, "p99-µs")
}
