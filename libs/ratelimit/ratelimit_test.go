package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// manualClock is a nanosecond clock the test moves by hand.
type manualClock struct{ ns atomic.Int64 }

func (c *manualClock) now() int64              { return c.ns.Load() }
func (c *manualClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestBucketBurstThenRefillByElapsedTime(t *testing.T) {
	clock := &manualClock{}
	b := NewBucket(10, 3, clock.now) // a token per 100ms, 3 at once
	for i := range 3 {
		if !b.Allow() {
			t.Fatalf("token %d of a full bucket refused", i)
		}
	}
	if b.Allow() {
		t.Fatal("fourth token granted from a bucket of 3")
	}
	clock.advance(99 * time.Millisecond)
	if b.Allow() {
		t.Fatal("token granted before 100ms passed")
	}
	clock.advance(time.Millisecond)
	if !b.Allow() || b.Allow() {
		t.Fatal("after 100ms exactly one token should be back")
	}
	clock.advance(time.Hour) // refill never exceeds the burst
	for i := range 3 {
		if !b.Allow() {
			t.Fatalf("token %d after a long pause refused", i)
		}
	}
	if b.Allow() {
		t.Fatal("a long pause overfilled the bucket")
	}
}

func TestBucketConcurrentAllowGrantsExactlyTheBurst(t *testing.T) {
	clock := &manualClock{}
	b := NewBucket(1, 1000, clock.now)
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if b.Allow() {
					granted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if granted.Load() != 1000 {
		t.Fatalf("16 goroutines were granted %d tokens from a bucket of 1000 on a frozen clock", granted.Load())
	}
}

func TestReserveAndCancel(t *testing.T) {
	clock := &manualClock{}
	b := NewBucket(10, 1, clock.now)
	if !b.Allow() {
		t.Fatal("full bucket refused")
	}
	if wait, ok := b.Reserve(time.Second); !ok || wait != 100*time.Millisecond {
		t.Fatalf("Reserve = %v, %v; want 100ms", wait, ok)
	}
	if wait, ok := b.Reserve(150 * time.Millisecond); ok || wait != 200*time.Millisecond {
		t.Fatalf("Reserve past its patience = %v, %v; want refused at 200ms", wait, ok)
	}
	b.Cancel() // the 100ms reservation is given back
	if wait, ok := b.Reserve(time.Second); !ok || wait != 100*time.Millisecond {
		t.Fatalf("Reserve after Cancel = %v, %v; want 100ms again", wait, ok)
	}
}

func TestDefaultPolicies(t *testing.T) {
	p := DefaultPolicies()
	for tier, want := range map[Tier]Policy{
		Normal: {5, 1, 100, 800 * time.Millisecond},
		VIP:    {20, 1, 300, 200 * time.Millisecond},
		Robot:  {2, 1, 10, 50 * time.Millisecond},
	} {
		if p[tier] != want {
			t.Errorf("%s = %+v, want %+v", tier, p[tier], want)
		}
	}
}

func newLimiter(t *testing.T, policies map[Tier]Policy) *Limiter {
	t.Helper()
	l, err := New(policies, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func rejected(err error, reason Reason) bool {
	var r *RejectedError
	return errors.As(err, &r) && r.Reason == reason
}

func TestWaitDropsWhenQueueFull(t *testing.T) {
	l := newLimiter(t, map[Tier]Policy{Robot: {Rate: 1, Burst: 1, QueueDepth: 1, GiveUp: 5 * time.Second}})
	l.Allow(Robot)
	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan error, 1)
	go func() { waiting <- l.Wait(ctx, Robot) }() // takes the one queue slot
	for l.tiers[Robot].Load().queued.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	if err := l.Wait(context.Background(), Robot); !rejected(err, QueueFull) {
		t.Fatalf("Wait with the queue full = %v, want QueueFull", err)
	}
	cancel()
	if err := <-waiting; !rejected(err, Canceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter = %v, want Canceled wrapping context.Canceled", err)
	}
}

func TestWaitGivesUpAtTheTiersLimit(t *testing.T) {
	// A token an hour and a give-up of 10 minutes: a Wait that waited out the
	// give-up instead of dropping the request at once would not return within
	// the test's time at all, so the bound below holds on any machine.
	l := newLimiter(t, map[Tier]Policy{Robot: {Rate: 1.0 / 3600, Burst: 1, QueueDepth: 10, GiveUp: 10 * time.Minute}})
	l.Allow(Robot)
	start := time.Now()
	err := l.Wait(context.Background(), Robot)
	var r *RejectedError
	if !errors.As(err, &r) || r.Reason != TooLate || r.Wait < 59*time.Minute {
		t.Fatalf("Wait = %v, want TooLate needing about an hour", err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("a request that cannot be served in time waited %v before being dropped", waited)
	}
}

func TestContextDeadlineShortensPatience(t *testing.T) {
	l := newLimiter(t, DefaultPolicies())
	l.Allow(Normal)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx, Normal); !rejected(err, TooLate) {
		t.Fatalf("Wait with a 50ms deadline for a 200ms token = %v, want TooLate", err)
	}
}

func TestTiersAreIsolated(t *testing.T) {
	l := newLimiter(t, DefaultPolicies())
	for ok, _ := l.Allow(Normal); ok; ok, _ = l.Allow(Normal) {
	}
	if ok, _ := l.Allow(VIP); !ok {
		t.Fatal("an exhausted normal tier blocked a VIP")
	}
	if _, err := l.Allow("gold"); !errors.Is(err, ErrUnknownTier) {
		t.Errorf("unknown tier: %v", err)
	}
}

func TestSetPolicy(t *testing.T) {
	l := newLimiter(t, DefaultPolicies())
	if err := l.SetPolicy(Robot, Policy{Rate: 100, Burst: 50, QueueDepth: 1, GiveUp: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	granted := 0
	for ok, _ := l.Allow(Robot); ok; ok, _ = l.Allow(Robot) {
		granted++
	}
	if granted != 50 {
		t.Errorf("after raising the robot burst to 50, %d granted", granted)
	}
	if err := l.SetPolicy(Robot, Policy{Rate: -1}); err == nil {
		t.Error("a negative rate was accepted")
	}
}

// The benchmarks compare Allow with golang.org/x/time/rate's Limiter.Allow in the
// same run, on a bucket that never runs dry so both take the grant path.
const benchRate = 1e12

func BenchmarkAllow(b *testing.B) {
	bucket := NewBucket(benchRate, 1<<20, nil)
	for b.Loop() {
		bucket.Allow()
	}
}

func BenchmarkXTimeRateAllow(b *testing.B) {
	limiter := rate.NewLimiter(rate.Limit(benchRate), 1<<20)
	for b.Loop() {
		limiter.Allow()
	}
}

// The parallel pair runs 8 goroutines per core, as a busy server has many
// goroutines calling Allow at once.
func BenchmarkAllowParallel(b *testing.B) {
	bucket := NewBucket(benchRate, 1<<20, nil)
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bucket.Allow()
		}
	})
}

func BenchmarkXTimeRateAllowParallel(b *testing.B) {
	limiter := rate.NewLimiter(rate.Limit(benchRate), 1<<20)
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			limiter.Allow()
		}
	})
}

// TestReserveKeepsOrder: reservations taken one after the other get their tokens
// in that order (FIFO, checked on the delays, not on goroutine scheduling); a full queue refuses at once; a cancelled wait frees its place.
func TestReserveKeepsOrder(t *testing.T) {
	l, err := New(map[Tier]Policy{Normal: {Rate: 100, Burst: 1, QueueDepth: 2, GiveUp: time.Second}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var rs []*Reservation
	for i := range 3 {
		r, err := l.Reserve(ctx, Normal)
		if err != nil {
			t.Fatalf("reservation %d: %v", i, err)
		}
		rs = append(rs, r)
	}
	if rs[0].Delay() != 0 || !(rs[1].Delay() > 0 && rs[2].Delay() > rs[1].Delay()) {
		t.Fatalf("delays %v %v %v: want 0, then increasing", rs[0].Delay(), rs[1].Delay(), rs[2].Delay())
	}
	var rejected *RejectedError
	if _, err := l.Reserve(ctx, Normal); !errors.As(err, &rejected) || rejected.Reason != QueueFull {
		t.Fatalf("a fourth reservation with a queue of 2: %v, want QueueFull", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := rs[2].Wait(cancelled); !errors.As(err, &rejected) || rejected.Reason != Canceled {
		t.Fatalf("Wait on an ended context: %v, want Canceled", err)
	}
	if _, err := l.Reserve(ctx, Normal); err != nil {
		t.Errorf("the cancelled place was not freed: %v", err)
	}
	for _, r := range rs[:2] {
		if err := r.Wait(ctx); err != nil {
			t.Error(err)
		}
	}
}
