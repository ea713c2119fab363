package snowflake

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock: Sleep advances it, Set moves it anywhere.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	slept  []time.Duration
	onRead func(*fakeClock) // called with the lock held on every Now
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.onRead != nil {
		c.onRead(c)
	}
	return c.now
}

func (c *fakeClock) Sleep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) totalSlept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var total time.Duration
	for _, d := range c.slept {
		total += d
	}
	return total
}

var start = DefaultEpoch.Add(1000 * time.Hour)

func newTestGenerator(t *testing.T, clock *fakeClock, logs *bytes.Buffer) *Generator {
	t.Helper()
	g, err := New(Config{
		WorkerID: 7,
		Clock:    clock,
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func mustNext(t *testing.T, g *Generator) int64 {
	t.Helper()
	id, err := g.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return id
}

func TestLayout(t *testing.T) {
	clock := &fakeClock{now: start}
	g := newTestGenerator(t, clock, &bytes.Buffer{})
	first, second := mustNext(t, g), mustNext(t, g)
	for i, id := range []int64{first, second} {
		p := Decompose(id, time.Time{})
		if !p.Time.Equal(start) || p.WorkerID != 7 || p.Sequence != int64(i) {
			t.Errorf("ID %d = %+v, want time %v worker 7 sequence %d", id, p, start, i)
		}
	}
	if want := int64(1000*time.Hour/time.Millisecond)<<22 | 7<<12; first != want {
		t.Errorf("first ID = %#x, want %#x", first, want)
	}
}

func TestSequenceExhaustedWaitsForNextMillisecond(t *testing.T) {
	clock := &fakeClock{now: start}
	reads := 0
	clock.onRead = func(c *fakeClock) {
		// The clock stays put until the generator has read it 10 times past the
		// 4096th ID, then ticks: proves the generator polls rather than overflows.
		if reads++; reads > maxSequence+10 {
			c.now = start.Add(time.Millisecond)
		}
	}
	g := newTestGenerator(t, clock, &bytes.Buffer{})
	var last int64 = -1
	for i := 0; i <= maxSequence+1; i++ {
		id := mustNext(t, g)
		if id <= last {
			t.Fatalf("ID %d = %d, not above %d", i, id, last)
		}
		last = id
	}
	p := Decompose(last, time.Time{})
	if !p.Time.Equal(start.Add(time.Millisecond)) || p.Sequence != 0 {
		t.Errorf("ID 4097 = %+v, want the next millisecond with sequence 0", p)
	}
}

func TestRollbackUnderSpinLimitIsWaitedOut(t *testing.T) {
	clock := &fakeClock{now: start}
	logs := &bytes.Buffer{}
	g := newTestGenerator(t, clock, logs)
	before := mustNext(t, g)
	clock.Set(start.Add(-5 * time.Millisecond))
	after := mustNext(t, g)
	if after <= before {
		t.Fatalf("after rollback: %d not above %d", after, before)
	}
	if slept := clock.totalSlept(); slept < 5*time.Millisecond || slept > 6*time.Millisecond {
		t.Errorf("waited %v for a 5ms rollback", slept)
	}
	if logs.Len() != 0 {
		t.Errorf("small rollback logged: %s", logs)
	}
}

func TestRollbackUnderSleepLimitSleepsAndWarns(t *testing.T) {
	clock := &fakeClock{now: start}
	logs := &bytes.Buffer{}
	g := newTestGenerator(t, clock, logs)
	before := mustNext(t, g)
	clock.Set(start.Add(-30 * time.Millisecond))
	after := mustNext(t, g)
	if after <= before {
		t.Fatalf("after rollback: %d not above %d", after, before)
	}
	if len(clock.slept) != 1 || clock.slept[0] != 30*time.Millisecond {
		t.Errorf("slept %v, want one sleep of 30ms", clock.slept)
	}
	if !strings.Contains(logs.String(), "clock moved backwards") || !strings.Contains(logs.String(), "behind=30ms") {
		t.Errorf("no warning naming the rollback; logs: %q", logs)
	}
}

func TestRollbackOverSleepLimitFails(t *testing.T) {
	clock := &fakeClock{now: start}
	g := newTestGenerator(t, clock, &bytes.Buffer{})
	before := mustNext(t, g)
	clock.Set(start.Add(-2 * time.Second))
	_, err := g.Next()
	var rollback *ClockRollbackError
	if !errors.As(err, &rollback) || rollback.Behind != 2*time.Second || !errors.Is(err, ErrClockMovedBackwards) {
		t.Fatalf("Next after a 2s rollback: %v, want a ClockRollbackError of 2s", err)
	}
	if md := rollback.ErrorMetadata(); md["behind_ms"] != "2000" || md["limit_ms"] != "50" {
		t.Errorf("metadata = %v", md)
	}
	if clock.totalSlept() != 0 {
		t.Errorf("slept %v before refusing", clock.totalSlept())
	}
	// Once the clock is back, IDs resume above the last one.
	clock.Set(start.Add(time.Millisecond))
	if after := mustNext(t, g); after <= before {
		t.Errorf("after recovery: %d not above %d", after, before)
	}
}

func TestNotBeforeTreatsEarlierClockAsRollback(t *testing.T) {
	clock := &fakeClock{now: start}
	g, err := New(Config{WorkerID: 1, Clock: clock, NotBefore: start.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	var rollback *ClockRollbackError
	if _, err := g.Next(); !errors.As(err, &rollback) {
		t.Fatalf("Next with the clock a minute behind NotBefore: %v, want a ClockRollbackError", err)
	}
	// Back at NotBefore, with a clock that ticks 100µs per reading: the first ID
	// comes from the millisecond after NotBefore, which may already have been used.
	clock.Set(start.Add(time.Minute))
	clock.onRead = func(c *fakeClock) { c.now = c.now.Add(100 * time.Microsecond) }
	id := mustNext(t, g)
	p := Decompose(id, time.Time{})
	if !p.Time.After(start.Add(time.Minute)) {
		t.Errorf("first ID at %v, want after NotBefore %v", p.Time, start.Add(time.Minute))
	}
	if got := g.LastTimestamp(); !got.Equal(p.Time) {
		t.Errorf("LastTimestamp = %v, want %v", got, p.Time)
	}
}

func TestOutOfRange(t *testing.T) {
	for name, now := range map[string]time.Time{
		"before epoch":     DefaultEpoch.Add(-time.Hour),
		"after 2^41 ms":    DefaultEpoch.Add((maxTimestamp + 1) * time.Millisecond),
		"last valid + 1ms": DefaultEpoch.Add((maxTimestamp + 1) * time.Millisecond),
	} {
		g := newTestGenerator(t, &fakeClock{now: now}, &bytes.Buffer{})
		if _, err := g.Next(); !errors.Is(err, ErrTimestampOutOfRange) {
			t.Errorf("%s: Next = %v, want ErrTimestampOutOfRange", name, err)
		}
	}
	g := newTestGenerator(t, &fakeClock{now: DefaultEpoch.Add(maxTimestamp * time.Millisecond)}, &bytes.Buffer{})
	if id := mustNext(t, g); id < 0 {
		t.Errorf("last valid millisecond gives negative ID %d", id)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{WorkerID: -1},
		{WorkerID: MaxWorkerID + 1},
		{WorkerID: 1, RollbackSpinLimit: time.Second, RollbackSleepLimit: time.Millisecond},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestConcurrentUniqueAndIncreasing: 16 goroutines x 1M IDs from one generator on
// the real clock; every goroutine sees increasing IDs and no ID repeats overall.
func TestConcurrentUniqueAndIncreasing(t *testing.T) {
	goroutines, perGoroutine := 16, 1_000_000
	if testing.Short() {
		perGoroutine = 10_000
	}
	g, err := New(Config{WorkerID: MaxWorkerID})
	if err != nil {
		t.Fatal(err)
	}
	results := make([][]int64, goroutines)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]int64, 0, perGoroutine)
			for range perGoroutine {
				id, err := g.Next()
				if err != nil {
					t.Error(err)
					return
				}
				ids = append(ids, id)
			}
			results[i] = ids
		}()
	}
	wg.Wait()
	seen := make(map[int64]struct{}, goroutines*perGoroutine)
	for i, ids := range results {
		if len(ids) != perGoroutine {
			t.Fatalf("goroutine %d got %d IDs", i, len(ids))
		}
		for j, id := range ids {
			if j > 0 && id <= ids[j-1] {
				t.Fatalf("goroutine %d: ID %d = %d not above %d", i, j, id, ids[j-1])
			}
			if _, dup := seen[id]; dup {
				t.Fatalf("duplicate ID %d", id)
			}
			seen[id] = struct{}{}
		}
	}
}

// BenchmarkNext reports IDs per second for one worker and the share of the format's
// limit of 4,096,000 per second it reaches.
func BenchmarkNext(b *testing.B) {
	g, err := New(Config{WorkerID: 1})
	if err != nil {
		b.Fatal(err)
	}
	begin := time.Now()
	for b.Loop() {
		if _, err := g.Next(); err != nil {
			b.Fatal(err)
		}
	}
	perSecond := float64(b.N) / time.Since(begin).Seconds()
	b.ReportMetric(perSecond, "ids/s")
	b.ReportMetric(100*perSecond/MaxIDsPerSecond, "%limit")
}
